"""The compiler: what each switch gets, that it is deterministic, and that small changes stay small."""

from __future__ import annotations

import ipaddress
import json
import random

from podswitch.fabric import allocate, compile, merged
from podswitch.fabric.names import ip_text
from podswitch.fabric.state import GATEWAY_MAC, parse_desired
from podswitch.model import (
    Action,
    Intent,
    InterfaceGroup,
    Key,
    Kind,
    LogicalRouter,
    Match,
    Member,
    NextHop,
    PolicyList,
    PolicyRule,
    Port,
    Protocol,
    Route,
    Segment,
    SegmentInterface,
    Tenant,
    build,
    put,
    validate,
)
from tests.builders import DEMO, demo_tenant, endpoint, pod


def compiled(intent: Intent, previous=None, alloc=None):  # type: ignore[no-untyped-def]
    validate(intent)
    alloc = merged(alloc or {}, allocate(intent, alloc or {}))
    return compile(intent, alloc, 1, previous), alloc


def seed_pod() -> Intent:
    return pod(demo_tenant(), servers={"osvdev0013": "leaf1", "osvdev0014": "leaf2", "external": "leaf4"})


def test_seed_on_leaf1() -> None:
    c, alloc = compiled(seed_pod())
    vni = alloc[("segment", f"{DEMO}/net_demo")]
    leaf1 = c.state("leaf1")
    assert leaf1.loopback == "10.255.0.1"
    assert [(a.port, a.vlan, a.vni, a.subif) for a in leaf1.attachments] == [("swp1", 300, vni, "swp1.300")]
    bridge = next(b for b in leaf1.bridges if b.vni == vni)
    assert bridge.bridge == f"br{vni}" and bridge.flood == ("10.255.0.1",)
    tenant_slice = next(s for s in leaf1.slices if s.tenant == DEMO)
    gw = tenant_slice.interfaces[0]
    assert (gw.ifname, gw.mac, gw.addresses) == (f"g{vni}", GATEWAY_MAC, ("10.66.16.1/24",))
    assert [(n.ip, n.mac) for n in tenant_slice.neighbours] == [("10.66.16.2", "fa:16:3e:ef:4f:f4")]
    assert [(r.prefix, r.dev) for r in tenant_slice.routes] == [("0.0.0.0/0", "sys")]
    system = next(s for s in leaf1.slices if s.tenant == "system")
    assert [(r.prefix, r.dev) for r in system.routes] == [("10.66.16.0/24", tenant_slice.name)]
    assert [link.peer_slice for link in system.links] == [tenant_slice.name]
    # leaf2 has no endpoint of the tenant: nothing of it; spines only route the underlay
    assert c.state("leaf2").slices == () and c.state("leaf2").bridges == ()
    spine = c.state("spine1")
    assert spine.bridges == () and {r.prefix for r in spine.underlay_routes} == {
        f"10.255.0.{i}/32" for i in range(1, 5)
    }
    assert all(len(r.nexthops) == 2 for r in c.state("leaf3").underlay_routes)  # ECMP over both spines


def test_documents_are_valid_and_deterministic() -> None:
    intent = seed_pod()
    c1, alloc = compiled(intent)
    objects = list(intent.objects())
    random.Random(7).shuffle(objects)
    c2 = compile(build(objects), alloc, 1)
    for switch in c1.switches:
        doc = c1.document(switch)
        assert doc == c2.document(switch)
        parsed = parse_desired(doc)
        assert parsed.etag == c1.etag(switch) and parsed.state == c1.state(switch)


def _two_leaf_segment() -> Intent:
    intent = seed_pod()
    return put(
        intent,
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e2"),
        endpoint("e2", "osvdev0014", 300, "10.66.16.3", "fa:16:3e:00:00:02"),
    )


def test_segment_across_leaves_floods_and_pins_only_where_attached() -> None:
    c, alloc = compiled(_two_leaf_segment())
    vni = alloc[("segment", f"{DEMO}/net_demo")]
    for leaf in ("leaf1", "leaf2"):
        bridge = next(b for b in c.state(leaf).bridges if b.vni == vni)
        assert bridge.flood == ("10.255.0.1", "10.255.0.2")
        assert {(m.mac, m.vtep) for m in bridge.remote_macs} == {
            ("fa:16:3e:ef:4f:f4", "10.255.0.1"),
            ("fa:16:3e:00:00:02", "10.255.0.2"),
        }
    assert {m.mac for m in c.state("leaf2").local_macs if m.dev == "swp1.300"} == {"fa:16:3e:00:00:02"}
    assert c.state("leaf3").bridges == ()


def test_one_endpoint_change_touches_only_the_leaves_of_its_tenant() -> None:
    intent = pod(_two_leaf_segment(), servers={})
    intent = put(intent, Key(Kind.TENANT, "other"), Tenant(name="other"))
    intent = put(intent, Key(Kind.SEGMENT, "other", "s"), Segment(name="s"))
    intent = put(
        intent,
        Key(Kind.INTERFACE_GROUP, name="h3"),
        InterfaceGroup(name="h3", members=[Port(switch="leaf3", interface="swp7")]),
    )
    intent = put(
        intent, Key(Kind.ENDPOINT, "other", "s", "o1"), endpoint("o1", "h3", 10, "10.0.0.1", "fa:16:3e:00:01:01")
    )
    before, alloc = compiled(intent)
    changed = put(
        intent,
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e3"),
        endpoint("e3", "osvdev0013", 300, "10.66.16.4", "fa:16:3e:00:00:03"),
    )
    after, _ = compiled(changed, before, alloc)
    moved = {s for s in after.switches if after.etag(s) != before.etag(s)}
    assert moved == {"leaf1", "leaf2"}
    assert after.switches["leaf3"] is before.switches["leaf3"]  # reused, not rebuilt
    fresh = compile(changed, alloc, 1)
    assert all(fresh.document(s) == after.document(s) for s in fresh.switches)


def test_overlapping_tenants_get_separate_segments_and_slices() -> None:
    intent = seed_pod()
    intent = put(intent, Key(Kind.TENANT, "t2"), Tenant(name="t2"))
    intent = put(intent, Key(Kind.SEGMENT, "t2", "net"), Segment(name="net"))
    intent = put(
        intent,
        Key(Kind.LOGICAL_ROUTER, "t2"),
        LogicalRouter(interfaces=[SegmentInterface(segment="net", ip_addresses=["10.66.16.1/24"])]),
    )
    intent = put(
        intent,
        Key(Kind.ENDPOINT, "t2", "net", "x1"),
        endpoint("x1", "osvdev0013", 400, "10.66.16.2", "fa:16:3e:00:02:01"),
    )
    c, alloc = compiled(intent)
    slices = {s.tenant: s for s in c.state("leaf1").slices}
    assert slices[DEMO].name != slices["t2"].name
    assert slices[DEMO].interfaces[0].ifname != slices["t2"].interfaces[0].ifname
    assert alloc[("segment", "t2/net")] != alloc[("segment", f"{DEMO}/net_demo")]
    assert slices["t2"].routes == ()  # not linked to system: no way out


def test_border_leaf_reaches_tenants_elsewhere_through_transit() -> None:
    intent = seed_pod()
    intent = put(intent, Key(Kind.SEGMENT, "system", "uplink"), Segment(name="uplink"))
    intent = put(
        intent, Key(Kind.MEMBER, "system", "uplink", "external:100"), Member(interface_group="external", vlan=100)
    )
    intent = put(
        intent,
        Key(Kind.ENDPOINT, "system", "uplink", "world"),
        endpoint("world", "external", 100, "192.0.2.2", "fa:16:3e:99:00:01"),
    )
    intent = put(
        intent,
        Key(Kind.LOGICAL_ROUTER, "system"),
        LogicalRouter(
            interfaces=[SegmentInterface(segment="uplink", ip_addresses=["192.0.2.1/24"])],
            routes=[Route(prefix="198.51.100.0/24", next_hop=NextHop(ip="192.0.2.2"))],
        ),
    )
    c, _ = compiled(intent)
    border = next(s for s in c.state("leaf4").slices if s.tenant == "system")
    route = next(r for r in border.routes if r.prefix == "10.66.16.0/24")
    assert route.dev == "g9999" and route.via == ("169.254.128.1",)  # leaf1's transit address
    assert ("198.51.100.0/24", ("192.0.2.2",)) in [(r.prefix, r.via) for r in border.routes]
    assert [s.tenant for s in c.state("leaf4").slices] == ["system"]  # the tenant itself stays on leaf1
    leaf1_system = next(s for s in c.state("leaf1").slices if s.tenant == "system")
    assert {i.ifname for i in leaf1_system.interfaces} >= {"g9999"}
    assert any(n.ip == "169.254.128.4" for n in leaf1_system.neighbours)


def test_policy_list_becomes_nftables_in_the_slice() -> None:
    intent = _two_leaf_segment()
    intent = put(intent, Key(Kind.SEGMENT, DEMO, "net_db"), Segment(name="net_db"))
    router = intent.get(Key(Kind.LOGICAL_ROUTER, DEMO))
    data = json.loads(router.model_dump_json())
    data["interfaces"].append({"segment": "net_db", "ip_addresses": ["10.66.17.1/24"]})
    data["policy_lists"] = [
        PolicyList(
            name="pl",
            rules=[
                PolicyRule(
                    seq=10,
                    action=Action.DENY,
                    protocol=Protocol.TCP,
                    src=Match(segment="net_demo"),
                    dst=Match(segment="net_db"),
                    dst_port={"first": 5432, "last": 5432},
                ),
                PolicyRule(seq=20, action=Action.PERMIT),
            ],
        ).model_dump(mode="json")
    ]
    data["applied_policy_list"] = "pl"
    intent = put(intent, Key(Kind.LOGICAL_ROUTER, DEMO), LogicalRouter.model_validate(data))
    c, alloc = compiled(intent)
    demo = alloc[("segment", f"{DEMO}/net_demo")]
    db = alloc[("segment", f"{DEMO}/net_db")]
    nft = next(s for s in c.state("leaf1").slices if s.tenant == DEMO).nftables
    assert f'iifname "g{demo}" oifname "g{db}" meta l4proto tcp th dport 5432 drop comment "pl 10"' in nft
    assert 'accept comment "pl 20"' in nft and "policy drop;" in nft


def test_ip_text_is_str() -> None:
    rnd = random.Random(3)
    v4 = [ipaddress.IPv4Address(rnd.getrandbits(32)) for _ in range(1000)]
    v6 = [ipaddress.IPv6Address(rnd.getrandbits(128)) for _ in range(100)]
    edges = [ipaddress.ip_address(a) for a in ("0.0.0.0", "255.255.255.255", "10.0.0.1", "::", "::ffff:1.2.3.4")]
    assert all(ip_text(ip) == str(ip) for ip in [*v4, *v6, *edges])
