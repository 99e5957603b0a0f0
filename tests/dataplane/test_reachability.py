"""Who reaches whom, with real packets, on one POD (2 spines, 4 leaves):

- the seed's demo tenant (endpoint 10.66.16.2 on osvdev0013 VLAN 300) with the outside world behind tenant
  system (`world` 192.0.2.2 on server `external`, the border leaf);
- tenant red: segments web and db, routed, with a default route to tenant system;
- tenants blue and green, both 10.66.16.0/24 with gateway 10.66.16.1 (each its own router, neither linked
  to system): the same addresses, strictly apart; VLAN 400 is blue's on compute-a/b and green's on compute-c;
- tenant plain: one segment, no router at all (L2 only).

Servers (the lab places them, the tests check): compute-a on leaf1, compute-b on leaf2, compute-c on leaf3,
osvdev0013 on leaf1, external on leaf4. Wire-level checks (802.1Q tag on a server trunk, VNI on a spine) are
here too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.conftest import Lab, wait_for

from .conftest import DEMO, SEED_EP, apply_and_sync, running_lab
from .probe import (
    GATEWAY_MAC,
    capture,
    desired_state,
    in_echos,
    leaf_of,
    neighbour_mac,
    never_reaches,
    reaches,
    vni_of,
)

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TENANTS = """\
tenant blue
  logical-router
    interface segment web
      ip address 10.66.16.1/24
  !
  segment web
    endpoint blue-a
      attachment-point interface-group compute-a vlan 400
      ip 10.66.16.11
      mac fa:16:3e:b0:00:0a
    !
    endpoint blue-b
      attachment-point interface-group compute-b vlan 400
      ip 10.66.16.12
      mac fa:16:3e:b0:00:0b
!
tenant green
  logical-router
    interface segment web
      ip address 10.66.16.1/24
  !
  segment web
    endpoint grn-b
      attachment-point interface-group compute-b vlan 410
      ip 10.66.16.11
      mac fa:16:3e:60:00:0b
    !
    endpoint grn-c
      attachment-point interface-group compute-c vlan 400
      ip 10.66.16.12
      mac fa:16:3e:60:00:0c
    !
    endpoint grn-x
      attachment-point interface-group compute-a vlan 410
      ip 10.66.16.13
      mac fa:16:3e:60:00:0d
!
tenant plain
  segment lan
    endpoint pl-a
      attachment-point interface-group compute-a vlan 900
      ip 10.77.0.11
      mac fa:16:3e:77:00:0a
    !
    endpoint pl-c
      attachment-point interface-group compute-c vlan 900
      ip 10.77.0.13
      mac fa:16:3e:77:00:0c
!
tenant red
  logical-router
    route 0.0.0.0/0 next-hop tenant system
    route 10.99.0.0/16 next-hop ip 10.66.20.12
    interface segment db
      ip address 10.66.21.1/24
    interface segment web
      ip address 10.66.20.1/24
    interface tenant system
  !
  segment db
    endpoint rdb-a
      attachment-point interface-group compute-a vlan 311
      ip 10.66.21.11
      mac fa:16:3e:21:00:0a
    !
    endpoint rdb-c
      attachment-point interface-group compute-c vlan 311
      ip 10.66.21.13
      mac fa:16:3e:21:00:0c
  !
  segment web
    endpoint rweb-a
      attachment-point interface-group compute-a vlan 310
      ip 10.66.20.11
      mac fa:16:3e:20:00:0a
    !
    endpoint rweb-b
      attachment-point interface-group compute-b vlan 310
      ip 10.66.20.12
      mac fa:16:3e:20:00:0b
"""
CONFIG = DEMO + TENANTS
DEFAULT_ROUTE = "    route 0.0.0.0/0 next-hop tenant system\n"
SYSTEM_LINK = "    interface tenant system\n"
assert DEMO.count(DEFAULT_ROUTE) == 1 and DEMO.count(SYSTEM_LINK) == 1
WORLD = "192.0.2.2"
SEED = SEED_EP[:8]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, CONFIG, "reach") as lab:
        assert {g: leaf_of(lab, g) for g in ("compute-a", "compute-b", "compute-c", "osvdev0013", "external")} == {
            "compute-a": "leaf1",
            "compute-b": "leaf2",
            "compute-c": "leaf3",
            "osvdev0013": "leaf1",
            "external": "leaf4",
        }
        yield lab


def test_seed_endpoint_pings_its_gateway(lab: Lab) -> None:
    """The issue's first words: endpoint 10.66.16.2 pings its gateway 10.66.16.1, the anycast gateway
    answering with the fabric-wide gateway MAC from the router slice of its own leaf."""
    p = reaches(lab, SEED, "10.66.16.1")
    assert p.ttls == [64, 64, 64]  # the gateway itself answers: no hop in between
    assert neighbour_mac(lab, SEED, "10.66.16.1") == GATEWAY_MAC


def test_same_segment_across_leaves(lab: Lab) -> None:
    """red/web: rweb-a behind leaf1, rweb-b behind leaf2. Bridged over VXLAN, not routed: TTL untouched,
    the peer's own MAC learnt by ARP, and exactly our probes arrive there."""
    before = in_echos(lab, "rweb-b")
    p = reaches(lab, "rweb-a", "10.66.20.12")
    assert p.ttls == [64, 64, 64]
    assert in_echos(lab, "rweb-b") - before == 3
    assert neighbour_mac(lab, "rweb-a", "10.66.20.12") == "fa:16:3e:20:00:0b"
    reaches(lab, "rweb-b", "10.66.20.11")
    # blue's segment too (other tenant, other VLAN, same leaves)
    reaches(lab, "blue-a", "10.66.16.12")
    reaches(lab, "blue-b", "10.66.16.11")


def test_segment_without_a_router_across_leaves(lab: Lab) -> None:
    """Tenant plain has no logical-router: its segment is bridged between leaf1 and leaf3 all the same,
    and nothing routes it anywhere."""
    before = in_echos(lab, "pl-c")
    reaches(lab, "pl-a", "10.77.0.13")
    reaches(lab, "pl-c", "10.77.0.11")
    assert in_echos(lab, "pl-c") - before == 3
    assert not any(s["tenant"] == "plain" for s in desired_state(lab, "leaf1")["slices"])
    assert [b["flood"] for b in desired_state(lab, "leaf1")["bridges"] if b["tenant"] == "plain"] == [
        sorted([desired_state(lab, "leaf1")["loopback"], desired_state(lab, "leaf3")["loopback"]])
    ]
    never_reaches(lab, "pl-a", "10.77.0.1")  # no gateway answers on a segment without a router


def test_two_segments_via_the_router_same_leaf(lab: Lab) -> None:
    """red web -> red db, both endpoints behind leaf1: routed once by leaf1's red slice (TTL 64 -> 63 on
    the reply, routed by the slice of the replier's leaf: the same leaf here)."""
    before = in_echos(lab, "rdb-a")
    p = reaches(lab, "rweb-a", "10.66.21.11")
    assert p.ttls == [63, 63, 63]
    assert in_echos(lab, "rdb-a") - before == 3
    reaches(lab, "rdb-a", "10.66.20.11")


def test_two_segments_via_the_router_across_leaves(lab: Lab) -> None:
    """red web (leaf1, leaf2) <-> red db (leaf3): asymmetric IRB, each direction routed once by the
    ingress leaf's slice."""
    before = in_echos(lab, "rdb-c")
    p = reaches(lab, "rweb-a", "10.66.21.13")
    assert p.ttls == [63, 63, 63]
    assert in_echos(lab, "rdb-c") - before == 3
    reaches(lab, "rdb-c", "10.66.20.12")  # leaf3 -> leaf2
    reaches(lab, "rweb-b", "10.66.21.11")  # leaf2 -> leaf1
    # the remote gateway address is the local slice's own: answered on every leaf
    reaches(lab, "rdb-c", "10.66.20.1")


def test_overlapping_tenants_each_reach_their_own_never_the_other(lab: Lab) -> None:
    """blue and green both use 10.66.16.0/24: 10.66.16.11 and 10.66.16.12 exist in both. Each tenant's
    probes arrive at its own endpoint and never at the other tenant's."""
    counters = {ep: in_echos(lab, ep) for ep in ("blue-a", "blue-b", "grn-b", "grn-c", "grn-x", SEED)}
    reaches(lab, "blue-a", "10.66.16.12")  # blue-b, leaf1 -> leaf2
    reaches(lab, "grn-x", "10.66.16.12")  # grn-c, leaf1 -> leaf3
    reaches(lab, "grn-x", "10.66.16.11")  # grn-b, leaf1 -> leaf2
    reaches(lab, "grn-c", "10.66.16.13")  # grn-x, leaf3 -> leaf1
    after = {ep: in_echos(lab, ep) for ep in counters}
    assert {ep: after[ep] - counters[ep] for ep in counters} == {
        "blue-a": 0,
        "blue-b": 3,
        "grn-b": 3,
        "grn-c": 3,
        "grn-x": 3,
        SEED: 0,
    }
    assert neighbour_mac(lab, "blue-a", "10.66.16.12") == "fa:16:3e:b0:00:0b"
    assert neighbour_mac(lab, "grn-x", "10.66.16.12") == "fa:16:3e:60:00:0c"
    # Addresses only the other tenant (or the demo tenant, same subnet too) has: nothing answers.
    counters = {ep: in_echos(lab, ep) for ep in ("grn-x", SEED, "blue-a", "grn-b")}
    never_reaches(lab, "blue-a", "10.66.16.13")  # green's grn-x
    never_reaches(lab, "blue-b", "10.66.16.2")  # demo's seed endpoint
    never_reaches(lab, SEED, "10.66.16.11")  # blue-a and grn-b
    assert {ep: in_echos(lab, ep) - n for ep, n in counters.items()} == dict.fromkeys(counters, 0)
    # Both gateways are 10.66.16.1 with the same anycast MAC, each in its own tenant's slice.
    reaches(lab, "blue-a", "10.66.16.1")
    reaches(lab, "grn-x", "10.66.16.1")


def test_static_route_to_a_next_hop_address(lab: Lab) -> None:
    """red routes 10.99.0.0/16 to 10.66.20.12 (rweb-b, leaf2), which holds 10.99.1.1 as a second address:
    from db on leaf3 the packets go through leaf3's slice to rweb-b, and only there."""
    assert lab.exec("rweb-b", "ip", "addr", "add", "10.99.1.1/32", "dev", "eth0").returncode == 0
    try:
        before = in_echos(lab, "rweb-b")
        p = reaches(lab, "rdb-c", "10.99.1.1")
        assert p.ttls == [63, 63, 63]
        assert in_echos(lab, "rweb-b") - before == 3
        reaches(lab, "rweb-a", "10.99.1.1")  # from leaf1, same segment as the next hop
    finally:
        lab.exec("rweb-b", "ip", "addr", "del", "10.99.1.1/32", "dev", "eth0")


def test_tenants_linked_to_system_meet_there(lab: Lab) -> None:
    """Tenant system is the only path between tenants: red and demo both link to it and route their
    default there; blue links to nothing and reaches neither."""
    reaches(lab, "rweb-b", "10.66.16.2")  # red (leaf2) -> demo (leaf1) through system
    reaches(lab, SEED, "10.66.21.13")  # demo (leaf1) -> red db (leaf3)
    never_reaches(lab, "blue-a", "10.66.20.11")
    never_reaches(lab, "blue-a", WORLD)


def test_server_trunk_carries_the_segment_vlan_tag(lab: Lab) -> None:
    """tcpdump -e on the server's trunk: the frames of red/web carry 802.1Q tag 310, both ways, and those
    of red/db tag 311."""
    with capture(lab, "compute-a", "eth0", "icmp", link_level=True) as cap:
        reaches(lab, "rweb-a", "10.66.20.12")
        reaches(lab, "rdb-a", "10.66.21.13")
        cap.wait(6, "10.66.20.1")
        cap.wait(6, "10.66.21.1")
    web, db = cap.matching("10.66.20.1"), cap.matching("10.66.21.1")
    assert len(web) == 6 and len(db) == 6 and len(cap.lines) == 12, cap.text
    for line in web:
        assert "ethertype 802.1Q (0x8100)" in line and "vlan 310," in line, line
    for line in db:
        assert "ethertype 802.1Q (0x8100)" in line and "vlan 311," in line, line
    assert len(cap.matching("fa:16:3e:20:00:0a > fa:16:3e:20:00:0b", "vlan 310,", "echo request")) == 3
    assert len(cap.matching("fa:16:3e:20:00:0b > fa:16:3e:20:00:0a", "vlan 310,", "echo reply")) == 3


def test_spine_carries_the_segment_vni(lab: Lab) -> None:
    """tcpdump on the spines' ports to leaf2: red/web between leaf1 and leaf2 is VXLAN with the segment's
    VNI (the controller's desired state says which), each probe and reply through exactly one spine."""
    vni = vni_of(lab, "red", "web")
    assert vni == vni_of(lab, "red", "web", "leaf2")
    assert vni != vni_of(lab, "red", "db")
    request, reply = "10.66.20.11 > 10.66.20.12: ICMP echo request", "10.66.20.12 > 10.66.20.11: ICMP echo reply"
    with capture(lab, "spine1", "swp2", "udp port 4789") as s1, capture(lab, "spine2", "swp2", "udp port 4789") as s2:
        reaches(lab, "rweb-a", "10.66.20.12", count=4)
        wait_for(
            lambda: (
                len(s1.matching(request) + s2.matching(request)) >= 4
                and len(s1.matching(reply) + s2.matching(reply)) >= 4
            ),
            30,
            what="VXLAN on the spines",
        )
    requests, replies = s1.matching(request) + s2.matching(request), s1.matching(reply) + s2.matching(reply)
    assert len(requests) == 4 and len(replies) == 4, s1.text + "\n" + s2.text
    vtep1, vtep2 = desired_state(lab, "leaf1")["loopback"], desired_state(lab, "leaf2")["loopback"]
    for line in requests:
        assert f"IP {vtep1}." in line and f"> {vtep2}.4789: VXLAN, flags [I] (0x08), vni {vni} |" in line, line
    for line in replies:
        assert f"IP {vtep2}." in line and f"> {vtep1}.4789: VXLAN, flags [I] (0x08), vni {vni} |" in line, line


def test_default_route_to_system_reaches_the_outside_world(lab: Lab) -> None:
    """`route 0.0.0.0/0 next-hop tenant system` takes the demo endpoint (leaf1) to the world behind the
    border leaf (leaf4) and back; without the route, or without `interface tenant system`, it does not.
    A route to system without the link is refused and changes nothing."""
    reaches(lab, SEED, WORLD)
    reaches(lab, "world", "10.66.16.2")
    reaches(lab, "rdb-c", WORLD)  # red too, from leaf3
    try:
        apply_and_sync(lab, DEMO.replace(DEFAULT_ROUTE, "") + TENANTS)
        never_reaches(lab, SEED, WORLD)
        never_reaches(lab, "world", "10.66.16.2")  # the reply would need the default route too
        reaches(lab, SEED, "10.66.16.1")
        reaches(lab, "rdb-c", WORLD)  # red keeps its own

        apply_and_sync(lab, DEMO.replace(DEFAULT_ROUTE, "").replace(SYSTEM_LINK, "") + TENANTS)
        never_reaches(lab, SEED, WORLD)
        never_reaches(lab, "world", "10.66.16.2")
        reaches(lab, "rdb-c", WORLD)

        revision = lab.revision()
        resp = lab.api.put(
            "/v1/running-config",
            content=DEMO.replace(SYSTEM_LINK, "") + TENANTS,
            headers={"Content-Type": "text/plain"},
        )
        assert resp.status_code in (400, 409, 422), resp.text
        assert "next-hop tenant system needs 'interface tenant system'" in resp.text
        assert lab.revision() == revision
    finally:
        apply_and_sync(lab, CONFIG)
    reaches(lab, SEED, WORLD)
    reaches(lab, "world", "10.66.16.2")
