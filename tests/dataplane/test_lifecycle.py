"""Endpoints come, go and move, through the API, with real packets and the kernel objects behind them.

Tenant life, routed segments web (10.66.50.0/24, VLAN 600) and db (10.66.51.0/24, VLAN 601):
peer-a on compute-a (leaf1), peer-b and victim on compute-b (leaf2), peer-db on compute-c (leaf3), and
mover, which starts on compute-a (leaf1) and moves to compute-c (leaf3) and back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import Lab, wait_for

from .conftest import running_lab, wait_lab
from .probe import desired_state, fdb, leaf_of, never_reaches, ping, reaches, slice_ns, wait_reaches

pytestmark = [pytest.mark.netns, pytest.mark.slow]

CONFIG = """\
tenant life
  logical-router
    interface segment db
      ip address 10.66.51.1/24
    interface segment web
      ip address 10.66.50.1/24
  !
  segment db
    endpoint peer-db
      attachment-point interface-group compute-c vlan 601
      ip 10.66.51.13
      mac fa:16:3e:51:00:13
  !
  segment web
    endpoint mover
      attachment-point interface-group compute-a vlan 600
      ip 10.66.50.20
      mac fa:16:3e:50:00:20
    !
    endpoint peer-a
      attachment-point interface-group compute-a vlan 600
      ip 10.66.50.11
      mac fa:16:3e:50:00:11
    !
    endpoint peer-b
      attachment-point interface-group compute-b vlan 600
      ip 10.66.50.12
      mac fa:16:3e:50:00:12
    !
    endpoint victim
      attachment-point interface-group compute-b vlan 600
      ip 10.66.50.30
      mac fa:16:3e:50:00:30
"""
WEB = "/v1/tenants/life/segments/web/endpoints"
MOVER_IP, MOVER_MAC = "10.66.50.20", "fa:16:3e:50:00:20"
LEAVES = ("leaf1", "leaf2", "leaf3", "leaf4")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, CONFIG, "life") as lab:
        assert [leaf_of(lab, g) for g in ("compute-a", "compute-b", "compute-c")] == ["leaf1", "leaf2", "leaf3"]
        yield lab


def endpoint(eid: str, group: str, vlan: int, ip: str, mac: str) -> dict[str, Any]:
    """The body of PUT .../endpoints/EID (the path names the endpoint, so the body leaves its id out)."""
    return {"attachment_point": {"interface_group": group, "vlan": vlan}, "ips": [ip], "mac": mac}


def fdb_entries(lab: Lab, switch: str, mac: str) -> list[str]:
    return [ln for ln in fdb(lab, switch).splitlines() if ln.startswith(mac + " ")]


def slice_neighbours(lab: Lab, switch: str, ip: str) -> str:
    ns = slice_ns(lab, switch, "life")
    assert ns is not None, f"{switch} has no slice of tenant life"
    return lab.exec(ns, "ip", "-4", "neigh", "show", ip).stdout.strip()  # lab.exec takes a lab namespace too


def test_deleted_endpoint_is_unreachable_and_forgotten(lab: Lab) -> None:
    mac, ip = "fa:16:3e:50:00:30", "10.66.50.30"
    reaches(lab, "peer-b", ip)  # same leaf
    reaches(lab, "peer-a", ip)  # leaf1 -> leaf2, bridged
    reaches(lab, "peer-db", ip)  # leaf3 -> leaf2, routed
    assert fdb_entries(lab, "leaf1", mac) and f"lladdr {mac} PERMANENT" in slice_neighbours(lab, "leaf1", ip)

    resp = lab.api.delete(f"{WEB}/victim")
    assert resp.status_code == 204, resp.text
    lab.wait_gone("victim")
    lab.wait_synced()
    never_reaches(lab, "peer-b", ip)
    never_reaches(lab, "peer-a", ip)
    never_reaches(lab, "peer-db", ip)
    # Nothing of it is left in the fabric: no MAC on any leaf, no static neighbour in any slice, and the
    # controller no longer mentions it.
    for leaf in LEAVES:
        assert fdb_entries(lab, leaf, mac) == [], f"{leaf}:\n{fdb(lab, leaf)}"
        assert mac not in str(desired_state(lab, leaf))
    for leaf in ("leaf1", "leaf2", "leaf3"):
        assert "PERMANENT" not in slice_neighbours(lab, leaf, ip), f"{leaf}: {slice_neighbours(lab, leaf, ip)}"
    reaches(lab, "peer-a", "10.66.50.12")  # the rest of the segment is untouched

    # Created again: reachable again.
    resp = lab.api.put(f"{WEB}/victim", json=endpoint("victim", "compute-b", 600, ip, mac))
    assert resp.status_code == 201, resp.text
    lab.wait_endpoint("victim")
    lab.wait_synced()
    reaches(lab, "peer-a", ip)
    reaches(lab, "peer-db", ip)


def bridge_of(lab: Lab, switch: str, segment: str) -> str | None:
    """The kernel bridge of tenant life's `segment` on `switch`, if its desired state has one."""
    for b in desired_state(lab, switch)["bridges"]:
        if b["tenant"] == "life" and b["segment"] == segment:
            return str(b["bridge"])
    return None


def move(lab: Lab, eid: str, group: str, vlan: int, ip: str, mac: str) -> None:
    """PUT the endpoint's new attachment point; wait until the lab re-plugged it and every agent applied
    the change (bounded)."""
    resp = lab.api.put(f"{WEB}/{eid}", json=endpoint(eid, group, vlan, ip, mac))
    assert resp.status_code == 200, resp.text
    wait_lab(
        lab,
        lambda: (
            (lab.state().endpoints.get(eid) or {}).get("server") == group and lab.state().endpoints[eid]["vlan"] == vlan
        ),
        f"{eid} to be plugged into {group} VLAN {vlan}",
    )
    lab.wait_endpoint(eid)
    lab.wait_synced()


def test_moved_endpoint_is_reachable_at_its_new_place(lab: Lab) -> None:
    """Same id, MAC and IP, new attachment point: once the lab and every agent report the move done, it
    is reachable there at once, from its old leaf, from other leaves and from another segment; the old
    leaf keeps nothing local of it. Three moves: to another leaf of the tenant (leaf3), to a leaf where the
    tenant had nothing (leaf4, server compute-d cabled there through the topology), and back to its first
    server on another VLAN of the segment."""
    resp = lab.api.put(
        "/v1/interface-groups/compute-d",
        json={"members": [{"switch": "leaf4", "interface": "swp2"}]},
    )
    assert resp.status_code in (200, 201), resp.text
    wait_lab(lab, lambda: "compute-d" in lab.state().servers, "the lab to build server compute-d")
    assert leaf_of(lab, "compute-d") == "leaf4"
    assert bridge_of(lab, "leaf4", "web") is None  # tenant life is not on leaf4 yet
    for old, new, group, vlan in (
        ("leaf1", "leaf3", "compute-c", 600),
        ("leaf3", "leaf4", "compute-d", 600),
        ("leaf4", "leaf1", "compute-a", 602),
    ):
        port = lab.state().servers[group]["port"]
        move(lab, "mover", group, vlan, MOVER_IP, MOVER_MAC)
        reaches(lab, "peer-a", MOVER_IP)  # from leaf1
        reaches(lab, "peer-b", MOVER_IP)  # from leaf2
        reaches(lab, "peer-db", MOVER_IP)  # from leaf3, routed
        reaches(lab, "mover", "10.66.50.1")
        reaches(lab, "mover", "10.66.51.13")
        assert slice_ns(lab, new, "life") in lab.namespaces()  # the tenant's router slice is there
        # The new leaf has it on the server's port (its VLAN's attachment); the old one over VXLAN only,
        # or not at all when the tenant has nothing left there.
        here = fdb_entries(lab, new, MOVER_MAC)
        assert any(f" dev {port}.{vlan} " in ln for ln in here), f"{new}:\n" + "\n".join(here)
        there = fdb_entries(lab, old, MOVER_MAC)
        assert all(" dev vx" in ln for ln in there), f"{old}:\n" + "\n".join(there)
        assert bool(there) == (bridge_of(lab, old, "web") is not None), f"{old}:\n" + "\n".join(there)
    # The tenant left leaf4 again: its web bridge went with it, from the desired state and the kernel.
    assert bridge_of(lab, "leaf4", "web") is None
    bridges = lab.exec("leaf4", "ip", "-br", "link", "show", "type", "bridge").stdout
    assert bridge_of(lab, "leaf1", "web") not in bridges, bridges
    slice_name = slice_ns(lab, "leaf1", "life")
    assert slice_name is not None and slice_ns(lab, "leaf4", "life") is None
    gone = slice_name.replace(f"{lab.prefix}leaf1-", f"{lab.prefix}leaf4-")
    wait_for(lambda: gone not in lab.namespaces(), 30, what=f"{gone} to be removed")


def test_endpoint_moved_back_onto_a_server_it_was_seen_from_is_reachable_at_once(lab: Lab) -> None:
    """mover is away on compute-c and talks to peer-a and peer-b there (so compute-a's VLAN 600 bridge
    sees its MAC arrive over the trunk, and both peers know its MAC); then it moves back onto compute-a VLAN
    600, next to peer-a. Once the lab and every agent report the move done, the fabric has it right (leaf1
    pins it on the port to compute-a) and it is reachable at once, from another leaf and from its
    neighbour on the same server. (A peer that has to ARP for it first gets through: the broadcast makes
    mover answer, which fixes the server's bridge; that is why both peers talk to it before.)"""
    move(lab, "mover", "compute-c", 600, MOVER_IP, MOVER_MAC)
    reaches(lab, "peer-a", MOVER_IP)
    reaches(lab, "peer-b", MOVER_IP)
    try:
        move(lab, "mover", "compute-a", 600, MOVER_IP, MOVER_MAC)
        port = lab.state().servers["compute-a"]["port"]
        assert any(f" dev {port}.600 " in ln for ln in fdb_entries(lab, "leaf1", MOVER_MAC))  # the fabric's part
        got = {src: ping(lab, src, MOVER_IP, wait=3.0).received for src in ("peer-b", "peer-a")}
        server_fdb = [ln for ln in fdb(lab, "compute-a").splitlines() if ln.startswith(MOVER_MAC)]
        assert got == {"peer-b": 3, "peer-a": 3}, f"replies {got}; compute-a's bridge: {server_fdb}"
    finally:
        # What a hypervisor does after plugging a VM in (it announces it): any frame from mover makes
        # compute-a's bridge relearn where it is.
        lab.exec("mover", "ping", "-c", "1", "-W", "1", "10.66.50.11")
        wait_reaches(lab, "peer-a", MOVER_IP, timeout=90)


def test_endpoint_address_changed(lab: Lab) -> None:
    """peer-b keeps its MAC and place and gets a new IP: the static neighbour follows in every slice (the
    routed path depends on it), the old address answers nowhere."""
    mac, old, new = "fa:16:3e:50:00:12", "10.66.50.12", "10.66.50.42"
    try:
        resp = lab.api.put(f"{WEB}/peer-b", json=endpoint("peer-b", "compute-b", 600, new, mac))
        assert resp.status_code == 200, resp.text
        wait_lab(lab, lambda: lab.state().endpoints["peer-b"]["addresses"] == [f"{new}/24"], "peer-b rebuilt")
        lab.wait_endpoint("peer-b")
        lab.wait_synced()
        for leaf in ("leaf1", "leaf2", "leaf3"):
            assert f"lladdr {mac} PERMANENT" in slice_neighbours(lab, leaf, new), leaf
            assert "PERMANENT" not in slice_neighbours(lab, leaf, old), f"{leaf}: {slice_neighbours(lab, leaf, old)}"
        reaches(lab, "peer-db", new)  # routed from leaf3: needs the new neighbour
        reaches(lab, "peer-a", new)  # bridged from leaf1
        never_reaches(lab, "peer-db", old)
    finally:
        resp = lab.api.put(f"{WEB}/peer-b", json=endpoint("peer-b", "compute-b", 600, old, mac))
        assert resp.status_code == 200, resp.text
        wait_lab(lab, lambda: lab.state().endpoints["peer-b"]["addresses"] == [f"{old}/24"], "peer-b rebuilt")
        lab.wait_synced()
    wait_reaches(lab, "peer-db", old)


def test_gateway_address_changed(lab: Lab) -> None:
    """The web gateway moves from 10.66.50.1 to 10.66.50.254 (same subnet) and back: once the agents
    report the change applied, every slice holds the new address (and not the old), and routing works
    through it. (The agent used to lose the new address: added as a secondary, it went with the old primary
    it replaced; fixed by promote_secondaries in the slices, 18a75b8.)"""
    old_cfg, new_cfg = CONFIG, CONFIG.replace("ip address 10.66.50.1/24", "ip address 10.66.50.254/24")
    assert new_cfg != old_cfg
    try:
        lab.apply(new_cfg)
        wait_lab(
            lab,
            lambda: lab.state().endpoints["peer-a"]["gateways"] == ["10.66.50.254"],
            "the lab to rebuild the endpoints with their new gateway",
        )
        lab.wait_synced()
        for leaf in ("leaf1", "leaf2", "leaf3"):
            ns = slice_ns(lab, leaf, "life")
            assert ns is not None
            wanted = next(s for s in desired_state(lab, leaf)["slices"] if s["tenant"] == "life")["interfaces"]
            dev = next(i["ifname"] for i in wanted if i["addresses"] == ["10.66.50.254/24"])
            have = lab.exec(ns, "ip", "-4", "-br", "addr", "show", "dev", dev).stdout
            assert "10.66.50.254/24" in have and "10.66.50.1/" not in have, f"{leaf} {ns} {dev}: {have!r}"
        reaches(lab, "peer-a", "10.66.50.254")
        reaches(lab, "peer-a", "10.66.51.13")  # routed, leaf1 -> leaf3
    finally:
        lab.apply(old_cfg)
        wait_lab(
            lab,
            lambda: lab.state().endpoints["peer-a"]["gateways"] == ["10.66.50.1"],
            "the lab to rebuild the endpoints with their old gateway",
        )
        lab.wait_synced()
    reaches(lab, "peer-a", "10.66.50.1")
    reaches(lab, "peer-a", "10.66.51.13")
