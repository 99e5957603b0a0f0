"""Which concerns a change puts in scope (pure). That a scoped run leaves the kernel exactly where a full run
would is proven against real kernels in test_reconcile.py (`test_scoped_runs_leave_nothing_for_a_full_run`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from podswitch.agent.scope import FULL, NOTHING, Scope, scope
from podswitch.fabric.state import (
    GATEWAY_MAC,
    FabricPort,
    LocalMac,
    Neighbour,
    RemoteMac,
    SegmentBridge,
    Slice,
    SliceInterface,
    SliceLink,
    SliceRoute,
    SwitchState,
    UnderlayNextHop,
    UnderlayRoute,
    VlanAttachment,
)


def bridge(vni: int, *macs: str) -> SegmentBridge:
    return SegmentBridge(
        vni=vni, tenant="t1", segment=f"s{vni}", bridge=f"br{vni}", vxlan=f"vx{vni}", flood=("10.255.0.2",),
        remote_macs=tuple(RemoteMac(mac=m, vtep="10.255.0.2") for m in macs),
    )  # fmt: skip


def leg(vni: int, last: int) -> SliceInterface:
    return SliceInterface(ifname=f"g{vni}", peer=f"r{vni}", bridge=f"br{vni}", mac=GATEWAY_MAC,
                          addresses=(f"10.66.{last}.1/24",))  # fmt: skip


def attachment(vni: int, vlan: int) -> VlanAttachment:
    return VlanAttachment(port="swp1", vlan=vlan, vni=vni, subif=f"swp1.{vlan}", shim=f"swp1~{vlan}")


BASE = SwitchState(
    switch="l1", role="leaf", loopback="10.255.0.1",
    fabric_ports=(FabricPort(ifname="up1", address="10.254.0.1/31", peer="10.254.0.0"),),
    underlay_routes=(UnderlayRoute(prefix="10.255.0.0/24", nexthops=(UnderlayNextHop(via="10.254.0.0", dev="up1"),)),),
    attachments=(attachment(10300, 300), attachment(10301, 301)),
    local_macs=(LocalMac(mac="02:00:00:00:01:01", bridge="br10300", dev="swp1.300"),),
    bridges=(bridge(10300, "02:00:00:00:02:01"), bridge(10301)),
    slices=(
        Slice(name="sys", tenant="system",
              links=(SliceLink(ifname="t1", address="169.254.0.0/31", peer_slice="t1", peer_ifname="sys",
                               peer_address="169.254.0.1/31"),),
              routes=(SliceRoute(prefix="10.66.16.0/24", via=("169.254.0.1",), dev="t1"),)),
        Slice(name="t1", tenant="t1", interfaces=(leg(10300, 16), leg(10301, 17)),
              neighbours=(Neighbour(ip="10.66.16.11", mac="02:00:00:00:01:01", dev="g10300"),),
              routes=(SliceRoute(prefix="0.0.0.0/0", via=("169.254.0.0",), dev="sys"),)),
        Slice(name="t2", tenant="t2"),
    ),
)  # fmt: skip


def slice_(st: SwitchState, name: str, **changes: object) -> SwitchState:
    return replace(st, slices=tuple(replace(s, **changes) if s.name == name else s for s in st.slices))


def t1(st: SwitchState) -> Slice:
    return next(s for s in st.slices if s.name == "t1")


def test_nothing_changed_is_nothing_to_do() -> None:
    assert scope(BASE, BASE) == NOTHING
    assert scope(BASE, replace(BASE)) == NOTHING  # equal, not the same object
    assert NOTHING.describe() == "nothing" and not NOTHING.full


def test_without_a_clean_run_to_start_from_everything_is_in_scope() -> None:
    assert scope(None, BASE) == FULL and FULL.full and FULL.describe() == "full"


@pytest.mark.parametrize(
    "after",
    [
        replace(BASE, loopback="10.255.0.9"),  # every VXLAN device's source
        replace(BASE, role="spine"),
        replace(BASE, switch="l2"),
    ],
    ids=["loopback", "role", "switch"],
)
def test_identity_changes_are_full(after: SwitchState) -> None:
    assert scope(BASE, after) == FULL


def test_a_remote_mac_is_the_fdb_only() -> None:
    after = replace(BASE, bridges=(bridge(10300, "02:00:00:00:02:01", "02:00:00:00:02:09"), bridge(10301)))
    assert scope(BASE, after) == replace(NOTHING, fdb=True)
    assert scope(BASE, after).describe() == "fdb"


def test_a_local_mac_is_the_fdb_only() -> None:
    after = replace(BASE, local_macs=(*BASE.local_macs, LocalMac(mac="02:00:00:00:01:02", bridge="br10301",
                                                                   dev="swp1.301")))  # fmt: skip
    assert scope(BASE, after) == replace(NOTHING, fdb=True)


def test_a_neighbour_route_or_table_is_its_slice_only() -> None:
    n = Neighbour(ip="10.66.16.12", mac="02:00:00:00:01:02", dev="g10300")
    assert scope(BASE, slice_(BASE, "t1", neighbours=(*t1(BASE).neighbours, n))) == replace(
        NOTHING, slices=frozenset({"t1"})
    )
    assert scope(BASE, slice_(BASE, "t2", nftables="table inet podswitch {}\n")) == replace(
        NOTHING, slices=frozenset({"t2"})
    )
    r = SliceRoute(prefix="10.99.0.0/16", kind="unreachable")
    assert scope(BASE, slice_(BASE, "sys", routes=(r,))).describe() == "slices sys"


def test_a_segment_new_on_the_leaf_leaves_the_links_and_the_other_slices_alone() -> None:
    after = replace(
        BASE,
        bridges=(*BASE.bridges, bridge(10302)),
        attachments=(*BASE.attachments, attachment(10302, 302)),
        slices=slice_(BASE, "t1", interfaces=(*t1(BASE).interfaces, leg(10302, 18))).slices,
    )
    assert scope(BASE, after) == Scope(links=False, slices=frozenset({"t1"}))


def test_removing_anything_of_the_switch_namespace_brings_the_links_in_for_the_stale_devices() -> None:
    after = replace(BASE, attachments=BASE.attachments[:1])
    got = scope(BASE, after)
    assert got.links and got.attachments and not got.bridges and got.slices == frozenset() and not got.fdb
    leg_gone = slice_(BASE, "t1", interfaces=t1(BASE).interfaces[:1])
    assert scope(BASE, leg_gone) == Scope(bridges=False, attachments=False, slices=frozenset({"t1"}))


def test_underlay_changes_are_the_links_only() -> None:
    port = FabricPort(ifname="up2", address="10.254.0.3/31", peer="10.254.0.2")
    assert scope(BASE, replace(BASE, fabric_ports=(*BASE.fabric_ports, port))) == replace(NOTHING, links=True)
    assert scope(BASE, replace(BASE, underlay_routes=())) == replace(NOTHING, links=True)


def test_slices_coming_going_or_relinked_are_every_slice_and_the_stale_ones() -> None:
    assert scope(BASE, replace(BASE, slices=BASE.slices[:2])).slices is None
    assert scope(BASE, replace(BASE, slices=(*BASE.slices, Slice(name="t3", tenant="t3")))).slices is None
    relinked = slice_(BASE, "sys", links=())
    assert scope(BASE, relinked).slices is None
    assert scope(BASE, relinked).describe() == "slices"
