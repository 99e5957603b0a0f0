"""Each concern's "what to write" part without a kernel, as faucet tests its managers: desired state and
observed kernel objects (made up here) in, writes out, checked by what they say (`what`, `record`) and by what
pyroute2 decodes from them."""

from __future__ import annotations

import errno
from typing import Any

from podswitch.agent import devices, links, nft, policy, slices, vlan_shim, writes
from podswitch.agent.bridges import ZERO_MAC, fdb_plan, fdb_wanted
from podswitch.agent.kernel import OWNER_ALIAS, PROTO
from podswitch.agent.netlink import (
    AF_BRIDGE,
    AF_INET,
    IFF_UP,
    NTF_MASTER,
    NTF_SELF,
    NUD_NOARP,
    NUD_PERMANENT,
    NUD_REACHABLE,
    RT_SCOPE_LINK,
    RTN_UNICAST,
    RTN_UNREACHABLE,
    Addr,
    KernelLink,
    KernelRoute,
    Neigh,
)
from podswitch.fabric.state import (
    GATEWAY_MAC,
    FabricPort,
    LocalMac,
    Neighbour,
    RemoteMac,
    SegmentBridge,
    Slice,
    SliceInterface,
    SliceRoute,
    SwitchState,
    UnderlayNextHop,
    UnderlayRoute,
    VlanAttachment,
)

from .decode import as_call

LO, OTHER = "10.255.0.1", "10.255.0.2"


def link(
    index: int,
    name: str,
    kind: str | None = None,
    *,
    alias: str | None = OWNER_ALIAS,
    master: int = 0,
    up: bool = True,
    peer: int = 0,
    mtu: int = 1500,
    address: str | None = None,
) -> KernelLink:
    return KernelLink(index, name, IFF_UP if up else 0, mtu, master, alias, 6, peer, None, address, kind, None)


def whats(plan: writes.WritePlan) -> list[str]:
    return [w.what for w in plan.writes]


def records(plan: writes.WritePlan) -> list[Any]:
    return [w.record for w in plan.writes]


# ---- devices ---------------------------------------------------------------------------------------------


def test_attrs_write_sets_only_what_differs() -> None:
    br = link(4, "br10300", "bridge", alias=None, up=False)
    assert devices.attrs_write(None, link(4, "br10300", "bridge"), "br10300", alias=OWNER_ALIAS) is None
    w = devices.attrs_write("sw", br, "br10300", alias=OWNER_ALIAS, mtu=1500, label="segment 10300", key=10300)
    assert w is not None and w.what == "segment 10300: set ifalias, state" and w.key == 10300
    assert w.record == ("changed", "link br10300@sw: ifalias, state")
    assert as_call(w.op) == ("link", "set", (), {"index": 4, "ifalias": OWNER_ALIAS, "state": "up"})
    made_now = devices.attrs_write(None, br, "br10300", up=True, created=True)
    assert made_now is not None and made_now.record is None  # part of its creation, not a change


def test_link_plan_adopts_recreates_ours_and_leaves_others_alone() -> None:
    have = {
        "br1": link(1, "br1", "bridge", alias=None),  # right kind, not marked yet: adopted (no write here)
        "br2": link(2, "br2", "veth"),  # ours, wrong kind: removed and made again
        "br3": link(3, "br3", "veth", alias=None),  # someone else's: an error, untouched
    }

    def spec(key: int, name: str) -> devices.LinkSpec[int]:
        return devices.LinkSpec(
            key, f"segment {key}", name, "bridge", None, lambda **kw: writes.bridge_add(None, name, **kw)
        )

    plan = devices.link_plan(None, have, [spec(1, "br1"), spec(2, "br2"), spec(3, "br3"), spec(4, "br4")])
    assert [w.what for w in plan.removals.values()] == ["segment 2: remove br2"]
    assert [w.what for w in plan.creates.values()] == ["segment 2: create br2", "segment 4: create br4"]
    assert plan.names == {1: ("segment 1", "br1", False), 2: ("segment 2", "br2", True), 4: ("segment 4", "br4", True)}
    assert plan.errors == [("segment 3", "br3 exists with another kind (veth) and is not podswitch's: left alone")]


def test_a_veth_pair_in_one_namespace_is_one_delete() -> None:
    a, b = link(5, "swp1.300", "veth", peer=6), link(6, "swp1~300", "veth", peer=5)
    assert [w.what for w in devices.delete_writes(None, [a, b], "no longer desired")] == ["remove swp1.300"]
    assert devices.paired(a, b, same=True) and not devices.paired(a, b, same=False)


# ---- links: sysctls, addresses, routes -------------------------------------------------------------------


def state(**kw: Any) -> SwitchState:
    return SwitchState(switch="leaf", role="leaf", loopback=LO, **kw)


def test_sysctls_write_only_what_differs() -> None:
    st = state(fabric_ports=(FabricPort(ifname="up1", address="10.254.0.1/31", peer="10.254.0.0"),))
    wanted = links.switch_sysctls(st, {"up1": link(2, "up1")}, ipv6=False)
    assert wanted["net/ipv4/conf/up1/rp_filter"] == "0" and "net/ipv6/conf/all/disable_ipv6" not in wanted
    current: dict[str, str | None] = dict(wanted)
    current["net/ipv4/ip_forward"] = "0"
    current["net/ipv4/conf/up1/rp_filter"] = None  # the device went
    plan = links.sysctl_plan("sw", wanted, current)
    assert [(w.sysctl, w.value) for w in plan.writes if isinstance(w, writes.SysctlWrite)] == [
        ("net/ipv4/ip_forward", "1")
    ]
    assert records(plan) == [("changed", "sysctl net/ipv4/ip_forward=1@sw")]
    assert plan.errors == [("sysctl net/ipv4/conf/up1/rp_filter@sw", "no such sysctl")]


def test_stale_links_are_ours_and_no_longer_named() -> None:
    st = state(bridges=(SegmentBridge(vni=1, tenant="t", segment="s", bridge="br1", vxlan="vx1"),))
    have = {n: link(i, n, "bridge") for i, n in enumerate(("br1", "br2"))} | {"opbr": link(9, "opbr", alias=None)}
    assert [x.name for x in links.stale_links(st, have)] == ["br2"]


def test_addresses_added_marked_and_only_marked_removed() -> None:
    have_links = {"lo": link(1, "lo"), "up1": link(2, "up1")}
    addrs = [
        Addr(1, AF_INET, "10.255.0.1", 32, 0, PROTO),  # right
        Addr(2, AF_INET, "10.254.0.9", 31, 0, PROTO),  # ours, no longer wanted
        Addr(2, AF_INET, "192.0.2.1", 24, 0, 0),  # someone else's
    ]
    plan = links.address_plan(
        None, {"lo": ["10.255.0.1/32"], "up1": ["10.254.0.1/31"], "gone": ["10.0.0.1/8"]}, have_links, addrs
    )
    assert whats(plan) == ["address 10.254.0.1/31 on up1", "remove address 10.254.0.9/31"]
    assert as_call(plan.writes[0].op)[3] == {"index": 2, "address": "10.254.0.1", "prefixlen": 31, "proto": PROTO}
    assert plan.errors == [("addresses on gone", "no such device")]


def test_routes_replaced_when_they_differ_and_ours_removed() -> None:
    have_links = {"up1": link(2, "up1"), "up2": link(3, "up2")}
    st = state(
        underlay_routes=(
            UnderlayRoute(
                prefix="10.255.0.0/24",
                nexthops=(UnderlayNextHop(via="10.254.0.0", dev="up1"), UnderlayNextHop(via="10.254.0.2", dev="up2")),
            ),
            UnderlayRoute(prefix="10.255.1.0/24", nexthops=(UnderlayNextHop(via="10.254.0.0", dev="up9"),)),
        )
    )
    wanted, errors = links.underlay_routes(st, have_links)
    assert errors == [("underlay route 10.255.1.0/24", "nexthop device up9 missing")]

    def route(dst: str, proto: int, hops: tuple[tuple[str | None, int], ...]) -> KernelRoute:
        return KernelRoute(AF_INET, dst, 254, proto, RTN_UNICAST, 0, 0, 0, None, hops)

    right = route("10.255.0.0/24", PROTO, (("10.254.0.0", 2), ("10.254.0.2", 3)))
    assert links.route_plan(None, wanted, [right]).writes == []
    one_hop = route("10.255.0.0/24", PROTO, (("10.254.0.0", 2),))
    stale = route("10.77.0.0/16", PROTO, (("10.254.0.0", 2),))
    foreign = route("198.51.100.0/24", 4, (("10.254.0.0", 2),))
    plan = links.route_plan("sw", wanted, [one_hop, stale, foreign])
    assert whats(plan) == ["route 10.255.0.0/24@sw", "remove route 10.77.0.0/16@sw"]
    assert records(plan) == [("changed", "route 10.255.0.0/24@sw"), ("removed", "route 10.77.0.0/16@sw")]
    assert as_call(plan.writes[0].op)[3]["multipath"] == [
        {"gateway": "10.254.0.0", "oif": 2},
        {"gateway": "10.254.0.2", "oif": 3},
    ]


def test_slice_routes_on_link_unreachable_and_errors() -> None:
    s = Slice(
        name="t1",
        tenant="t1",
        routes=(
            SliceRoute(prefix="10.98.0.0/16", dev="g1"),
            SliceRoute(prefix="10.99.0.0/16", kind="unreachable"),
            SliceRoute(prefix="10.88.0.0/16", via=("10.66.16.254",), dev="nosuchdev"),
        ),
    )
    wanted, errors = slices.slice_routes("sw-t1", s, {"g1": link(7, "g1")})
    assert errors == [("route 10.88.0.0/16@sw-t1", "device nosuchdev missing")]
    on_link = wanted["10.98.0.0/16"].write("sw-t1", "10.98.0.0/16", what="x", record=("created", "x"))
    assert as_call(on_link.op)[3] | {"scope": RT_SCOPE_LINK, "oif": 7} == as_call(on_link.op)[3]
    unreachable = wanted["10.99.0.0/16"].write(None, "10.99.0.0/16", what="x", record=("created", "x"))
    assert as_call(unreachable.op)[3]["type"] == RTN_UNREACHABLE


def test_neighbours_pinned_and_ours_removed() -> None:
    s = Slice(
        name="t1",
        tenant="t1",
        neighbours=(
            Neighbour(ip="10.66.16.11", mac="02:00:00:00:01:01", dev="g1"),
            Neighbour(ip="10.66.16.12", mac="02:00:00:00:02:01", dev="g1"),
            Neighbour(ip="10.66.16.99", mac="02:00:00:00:09:09", dev="nosuchdev"),
        ),
    )
    entries = [
        Neigh(AF_INET, 7, NUD_PERMANENT, 0, "02:00:00:00:01:01", "10.66.16.11", 0, PROTO, 0),  # right
        Neigh(AF_INET, 7, NUD_REACHABLE, 0, "02:00:00:00:02:01", "10.66.16.12", 0, 0, 0),  # learned: pin it
        Neigh(AF_INET, 7, NUD_PERMANENT, 0, "02:00:00:00:03:01", "10.66.16.13", 0, PROTO, 0),  # ours, stale
        Neigh(AF_INET, 7, NUD_PERMANENT, 0, "02:00:00:00:04:01", "10.66.16.14", 0, 0, 0),  # someone else's
    ]
    plan = slices.neighbour_plan("sw-t1", s, {"g1": link(7, "g1")}, entries)
    assert whats(plan) == ["remove neighbour 10.66.16.13@sw-t1", "neighbour 10.66.16.12 02:00:00:00:02:01 g1@sw-t1"]
    assert records(plan)[1][0] == "changed"  # it was there, learned
    assert plan.errors == [("neighbour 10.66.16.99 on nosuchdev@sw-t1", "no such device")]


# ---- FDB ------------------------------------------------------------------------------------------------


def test_fdb_make_before_break_and_only_ours() -> None:
    mac_a, mac_b, mac_c = "02:00:00:00:0a:01", "02:00:00:00:0b:01", "02:00:00:00:0c:01"
    st = state(
        bridges=(
            SegmentBridge(
                vni=1,
                tenant="t",
                segment="s",
                bridge="br1",
                vxlan="vx1",
                flood=(LO, OTHER),
                remote_macs=(RemoteMac(mac=mac_a, vtep=OTHER), RemoteMac(mac=mac_b, vtep=LO)),
            ),
        ),
        local_macs=(
            LocalMac(mac=mac_b, bridge="br1", dev="swp1.1"),
            LocalMac(mac=GATEWAY_MAC, bridge="br1", dev="r1"),
            LocalMac(mac="02:00:00:00:0d:01", bridge="br1", dev="gone"),
        ),
    )
    have = {
        "br1": link(1, "br1", "bridge"),
        "vx1": link(2, "vx1", "vxlan", master=1),
        "swp1.1": link(3, "swp1.1", "veth", master=1),
        "r1": link(4, "r1", "veth", master=1),
    }
    want = fdb_wanted(st, have, LO)
    assert want.flood == {2: {OTHER}} and want.unicast == {(2, mac_a): OTHER}  # our own VTEP is not flooded to
    assert want.keep(99, NUD_PERMANENT, NTF_SELF) is False and want.keep(99, NUD_NOARP, NTF_MASTER) is True
    entries = [
        Neigh(AF_BRIDGE, 2, NUD_PERMANENT, NTF_SELF, mac_a, "10.255.0.9", 0, 0, 0),  # moved to another VTEP
        Neigh(AF_BRIDGE, 2, NUD_PERMANENT, NTF_SELF, ZERO_MAC, "10.255.0.7", 0, 0, 0),  # stale flood entry
        Neigh(AF_BRIDGE, 2, NUD_PERMANENT, NTF_SELF, mac_c, "10.255.0.7", 0, 0, 0),  # stale remote MAC
        Neigh(AF_BRIDGE, 3, NUD_NOARP, NTF_MASTER, mac_b, None, 1, 0, 0),  # right
        Neigh(AF_BRIDGE, 3, NUD_NOARP, NTF_MASTER, mac_c, None, 1, 0, 0),  # stale pin
        Neigh(AF_BRIDGE, 4, NUD_REACHABLE, NTF_MASTER, "02:00:00:00:0e:01", None, 1, 0, 0),  # learned: not ours
    ]
    plan = fdb_plan(None, want, entries)
    assert whats(plan) == [
        f"fdb {mac_a} vx1 dst {OTHER}",  # VXLAN destination first ...
        f"flood vx1 -> {OTHER}",
        f"fdb {mac_a} vx1 master static",  # ... then the bridge entry that points at it
        f"fdb {GATEWAY_MAC} r1 master static",
        f"remove fdb {mac_c} master",  # removals of bridge entries before their destinations
        f"remove fdb {mac_c} vx1",
        "remove flood vx1 -> 10.255.0.7",
    ]
    assert records(plan)[0] == ("changed", f"fdb {mac_a} vx1 dst {OTHER}")  # replaced in place
    assert as_call(plan.writes[0].op) == (
        "fdb",
        "replace",
        (),
        {"family": AF_BRIDGE, "ifindex": 2, "state": NUD_PERMANENT, "flags": NTF_SELF, "lladdr": mac_a, "dst": OTHER},
    )
    assert plan.errors == [("local mac 02:00:00:00:0d:01 on gone", "gone missing")]


# ---- tc hooks --------------------------------------------------------------------------------------------


def test_attach_writes_follow_what_is_on_the_hook() -> None:
    name = vlan_shim.expected_push_name(300, 7)

    def plan(slot: str | None, hook: vlan_shim.Hook) -> list[Any]:
        ws = vlan_shim.attach_writes(None, 9, 42, name, slot=slot, hook=hook, what="a", key=1, record=("changed", "x"))
        assert all(w.key == 1 for w in ws) and [w.record for w in ws][-1] == ("changed", "x")
        return [as_call(w.op)[:3] for w in ws]

    empty = vlan_shim.Hook(None, [])
    assert plan(None, empty) == [("tc", "add", ("clsact", 9)), ("tc", "replace-filter", ("bpf", 9))]
    assert plan("clsact", vlan_shim.Hook("psw1:push:301>7", [])) == [("tc", "replace-filter", ("bpf", 9))]
    assert plan("clsact", vlan_shim.Hook(name, [(7, 3), (1, 0x8100)])) == [
        ("tc", "del-filter", (None, 9)),
        ("tc", "del-filter", (None, 9)),
        ("tc", "replace-filter", ("bpf", 9)),
    ]
    assert plan("ingress", empty) == [
        ("tc", "del", ("ingress", 9)),
        ("tc", "add", ("clsact", 9)),
        ("tc", "replace-filter", ("bpf", 9)),
    ]
    filt = vlan_shim.attach_writes(None, 9, 42, name, slot=None, hook=empty, what="a")[-1]
    assert as_call(filt.op)[3] == {
        "handle": 1,
        "parent": vlan_shim.INGRESS_PARENT,
        "prio": 1,
        "protocol": 3,
        "fd": 42,
        "name": name,
        "direct_action": True,
    }


def test_detach_writes_leave_what_is_not_ours() -> None:
    ours = vlan_shim.Hook("psw1:pop:300=12", [])
    assert vlan_shim.detach_writes(None, 9, vlan_shim.Hook(None, [(5, 3)]), egress_busy=False, what="t") == []
    assert [w.what for w in vlan_shim.detach_writes(None, 9, ours, egress_busy=False, what="t")] == [
        "t: filter",
        "t: clsact",
    ]
    assert [w.what for w in vlan_shim.detach_writes(None, 9, ours, egress_busy=True, what="t")] == ["t: filter"]
    busy = vlan_shim.Hook("psw1:pop:300=12", [(5, 3)])
    assert [w.what for w in vlan_shim.detach_writes(None, 9, busy, egress_busy=False, what="t")] == ["t: filter"]
    (filt,) = vlan_shim.detach_writes(None, 9, busy, egress_busy=False, what="t")
    assert as_call(filt.op) == (
        "tc",
        "del-filter",
        (None, 9),
        {"parent": vlan_shim.INGRESS_PARENT, "info": (1 << 16) | 0x0300},
    )
    assert filt.op.ok == {errno.ENOENT}


def test_expected_names_are_the_names_the_programs_get() -> None:
    assert vlan_shim.expected_push_name(300, 7) == vlan_shim._push_name(300, 7) == "psw1:push:300>7"
    assert vlan_shim.expected_trunk_name({301: 13, 300: 12}) == "psw1:pop:300=12,301=13"
    big = {v: 1000 + v for v in range(1, 4095)}
    assert vlan_shim.expected_trunk_name(big) == vlan_shim._pop_name(big)
    for bad in (lambda: vlan_shim.expected_push_name(4095, 7), lambda: vlan_shim.expected_trunk_name({300: 0})):
        try:
            bad()
        except ValueError:
            continue
        raise AssertionError("accepted a VLAN or an ifindex out of range")


# ---- policy ---------------------------------------------------------------------------------------------


def test_the_table_is_written_only_when_its_digest_differs() -> None:
    text = "table inet podswitch {\n}\n"
    assert policy.table_plan("slice t1 nftables", "sw-t1", text, nft.digest(text)).writes == []
    (w,) = policy.table_plan("slice t1 nftables", "sw-t1", text, "").writes  # a table without our comment
    assert isinstance(w, writes.NftWrite) and w.ruleset == text and w.record == ("changed", "nftables@sw-t1")
    assert policy.table_plan("x", "sw-t1", None, None).writes == []  # no table, none wanted
    (gone,) = policy.table_plan("x", "sw-t1", None, nft.digest(text)).writes
    assert isinstance(gone, writes.NftWrite) and gone.ruleset is None


def test_attachments_and_slices_name_their_devices() -> None:
    st = state(
        bridges=(SegmentBridge(vni=1, tenant="t", segment="s", bridge="br1", vxlan="vx1"),),
        attachments=(VlanAttachment(port="swp1", vlan=300, vni=1, subif="swp1.300", shim="swp1~300"),),
        slices=(
            Slice(
                name="t1",
                tenant="t1",
                interfaces=(
                    SliceInterface(ifname="g1", peer="r1", bridge="br1", mac=GATEWAY_MAC, addresses=("fd00::1/64",)),
                ),
            ),
        ),
    )
    have = {n: link(i, n) for i, n in enumerate(("br1", "vx1", "swp1.300", "swp1~300", "r1", "r2"))}
    assert [x.name for x in links.stale_links(st, have)] == ["r2"]
    assert slices.has_v6(st.slices[0])
