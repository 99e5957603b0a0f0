"""Reconcile at scale: batched writes, tc state read with batched gets, and kernels equal to the desired
state.

- a leaf with 500 VLAN attachments built from empty: a re-reconcile writes nothing, and reads tc with one
  batch of filter gets plus one dump per trunk port, however many VLANs a port has; every request of the
  build decodes with pyroute2's own message classes;
- a small leaf built, then changed: after each step the kernel is the desired state, object by object (read
  back by name and compared with a view computed from the `SwitchState` alone), and the changed kernel is
  the same as a kernel built from empty for the changed state;
- hooks with someone else's filter or an old `ingress` qdisc made right inside the batches;
- a ping across a VLAN attachment and through the gateway of a router slice after a batched build;
- drift repaired with the fewest writes, per-object errors inside a batch, stale on-link routes;
- the agent never loads pyroute2: the one write path is the transaction's netlink socket.

Every namespace is named `psr<pid>b...` (conftest's session prefix, deleted at the end also after a
failure) and removed by its own fixture too. No assertion here depends on time: writes, requests and
dumps are counted."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from podswitch.agent import bpf, netlink, vlan_shim
from podswitch.agent.bridges import ZERO_MAC
from podswitch.agent.kernel import PROTO, owned, slice_ns_alias
from podswitch.agent.netlink import (
    AF_BRIDGE,
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    NTF_SELF,
    NUD_NOARP,
    NUD_PERMANENT,
    RTN_UNICAST,
    RTN_UNREACHABLE,
    RtSocket,
)
from podswitch.agent.reconcile import Reconciler, Result, reconcile
from podswitch.fabric.state import (
    GATEWAY_MAC,
    OVERLAY_MTU,
    VXLAN_PORT,
    DesiredState,
    LocalMac,
    Neighbour,
    RemoteMac,
    SegmentBridge,
    Slice,
    SliceInterface,
    SliceLink,
    SliceRoute,
    SwitchState,
    VlanAttachment,
    serialize,
)

from .decode import as_call

LO = "10.255.0.1"
OTHER_VTEP = "10.255.0.2"


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds network namespaces, veths, bridges and tc BPF filters")


def _sh(ns: str, *argv: str, check: bool = True) -> str:
    proc = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{ns}: {' '.join(argv)} -> rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _delete(prefix: str) -> None:
    from pyroute2 import netns

    for name in netns.listnetns():
        if name.startswith(prefix):
            with contextlib.suppress(OSError):
                netns.remove(name)


@contextlib.contextmanager
def _lab(prefix: str, ports: int) -> Iterator[tuple[str, str]]:
    """A leaf namespace with `ports` cabled server ports swp0.. (veths to eth0.. in a server namespace)."""
    from pyroute2 import IPRoute, netns

    _delete(prefix)
    leaf, server = f"{prefix}l", f"{prefix}s"
    try:
        for ns in (leaf, server):
            netns.create(ns)
        with IPRoute(netns=leaf, flags=0) as ipr:
            for p in range(ports):
                ipr.link("add", ifname=f"swp{p}", kind="veth", peer={"ifname": f"eth{p}", "net_ns_fd": server})
        yield leaf, server
    finally:
        _delete(prefix)


def leaf_state(ports: int, vlans: int, *, first_vlan: int = 100, slice_: bool = True) -> SwitchState:
    """`ports` x `vlans` attachments, one segment per VLAN (VNI 10000 + index), with remote MACs and a
    router slice `t1` with a gateway leg per segment, neighbours and routes, linked to a slice `sys`."""
    bridges, atts, pins = [], [], []
    for v in range(vlans):
        vni = 10000 + v
        bridges.append(SegmentBridge(
            vni=vni, tenant="t1", segment=f"s{v}", bridge=f"br{vni}", vxlan=f"vx{vni}", flood=(LO, OTHER_VTEP),
            remote_macs=(RemoteMac(mac=f"02:00:01:00:{v >> 8:02x}:{v & 255:02x}", vtep=OTHER_VTEP),),
        ))  # fmt: skip
        for p in range(ports):
            vlan = first_vlan + v
            atts.append(VlanAttachment(port=f"swp{p}", vlan=vlan, vni=vni, subif=f"swp{p}.{vlan}",
                                       shim=f"swp{p}~{vlan}"))  # fmt: skip
    slices: tuple[Slice, ...] = ()
    if slice_:
        legs = tuple(
            SliceInterface(ifname=f"g{10000 + v}", peer=f"r{10000 + v}", bridge=f"br{10000 + v}", mac=GATEWAY_MAC,
                           addresses=(f"10.{64 + v // 256}.{v % 256}.1/24",))
            for v in range(vlans)
        )  # fmt: skip
        neigh = tuple(Neighbour(ip=f"10.{64 + v // 256}.{v % 256}.10", mac=f"02:00:02:00:{v >> 8:02x}:{v & 255:02x}",
                                dev=f"g{10000 + v}") for v in range(vlans))  # fmt: skip
        routes = (
            SliceRoute(prefix="0.0.0.0/0", via=("169.254.0.0",), dev="sys"),
            SliceRoute(prefix="10.99.0.0/16", kind="unreachable"),
            SliceRoute(prefix="10.98.0.0/16", dev="g10000"),  # on-link: scope link
        )
        t1 = Slice(name="t1", tenant="t1", interfaces=legs, neighbours=neigh, routes=routes)
        sys_ = Slice(name="sys", tenant="system",
                     links=(SliceLink(ifname="t1", address="169.254.0.0/31", peer_slice="t1", peer_ifname="sys",
                                      peer_address="169.254.0.1/31"),),
                     routes=(SliceRoute(prefix="10.64.0.0/16", via=("169.254.0.1",), dev="t1"),))  # fmt: skip
        slices = (sys_, t1)
        pins = [LocalMac(mac=GATEWAY_MAC, bridge=f"br{10000 + v}", dev=f"r{10000 + v}") for v in range(vlans)]
    return SwitchState(switch="leaf", role="leaf", loopback=LO, bridges=tuple(bridges), attachments=tuple(atts),
                       local_macs=tuple(pins), slices=slices)  # fmt: skip


# ---- counting: netlink requests by kind --------------------------------------------------------


class CountingRt(RtSocket):
    """The agent's fast socket, counting tc reads: filter dumps (one per device) and filter gets."""

    def __init__(self, name: str | None) -> None:
        super().__init__(name)
        self.filter_dumps = 0
        self.get_calls = 0
        self.gets = 0
        self.get_sends = 0
        self.batches: list[str] = []  # `what` of every write handed to execute
        self.ops: list[netlink.Op] = []  # and the request itself
        self.dumps: Counter[int] = Counter()  # dump requests by message type

    def dump(self, msg_type: int, body: bytes, parse: Any) -> list:
        self.dumps[msg_type] += 1
        if msg_type == netlink.RTM_GETTFILTER:
            self.filter_dumps += 1
        return super().dump(msg_type, body, parse)

    def get_filters(self, keys: Any) -> list:
        self.get_calls += 1
        self.gets += len(keys)
        return super().get_filters(keys)

    def _get_chunk(self, keys: Any) -> list:
        self.get_sends += 1
        return super()._get_chunk(keys)

    def execute(self, ops: Any) -> list:
        self.batches += [op.what for op in ops]
        self.ops += ops
        return super().execute(ops)


class CountingOpener:
    def __init__(self) -> None:
        self.rts: list[CountingRt] = []

    def rt(self, name: str | None) -> RtSocket:
        rt = CountingRt(name)
        self.rts.append(rt)
        return rt

    def reset(self) -> None:
        for rt in self.rts:
            rt.filter_dumps = rt.get_calls = rt.gets = rt.get_sends = 0
            rt.batches.clear()
            rt.ops.clear()
            rt.dumps.clear()

    def total(self, attr: str) -> int:
        return sum(getattr(rt, attr) for rt in self.rts)

    def batched_writes(self) -> list[str]:
        return [w for rt in self.rts for w in rt.batches]

    def dumps(self) -> Counter[int]:
        return sum((rt.dumps for rt in self.rts), Counter())


# ---- 500 attachments: zero writes, tc reads that do not grow with the attachments -----------------


PORTS, VLANS = 20, 25  # 500 attachments


@pytest.fixture(scope="module")
def big(netns_prefix: str) -> Iterator[tuple[str, SwitchState, Result]]:
    _require_root()
    with _lab(f"{netns_prefix}bg", PORTS) as (leaf, _):
        st = leaf_state(PORTS, VLANS)
        res = reconcile(st, leaf)
        yield leaf, st, res


@pytest.mark.netns
def test_big_build_through_the_batched_path(big: tuple[str, SwitchState, Result]) -> None:
    leaf, st, res = big
    assert res.errors == []
    # every veth pair is one created entry; nothing was "changed" on devices made in this run (only the
    # server ports, which the test cabled down, were set up, and the namespaces' lo)
    assert sum(c.startswith("veth ") for c in res.created) == len(st.attachments) + VLANS + 1
    assert sorted(c for c in res.changed if c.startswith("link ") and not c.startswith("link lo@")) == sorted(
        f"link swp{p}@{leaf}: state" for p in range(PORTS))  # fmt: skip
    with RtSocket(leaf) as rt:
        links = {link.name: link for link in rt.links()}
        slots = {i: kind for i, _, kind in rt.qdiscs(vlan_shim.CLSACT_PARENT)}
        for a in st.attachments:
            subif, shim, port = links[a.subif], links[a.shim], links[a.port]
            assert owned(subif) and owned(shim) and subif.up and shim.up, a
            assert subif.master == links[f"br{a.vni}"].index
            assert slots.get(shim.index) == "clsact"
            assert vlan_shim.read_hook(rt, shim.index).right(vlan_shim.expected_push_name(a.vlan, port.index))
        for p in range(PORTS):
            port = links[f"swp{p}"]
            vlans = {a.vlan: links[a.shim].index for a in st.attachments if a.port == port.name}
            assert vlan_shim.read_hook(rt, port.index).right(vlan_shim.expected_trunk_name(vlans))
        for b in st.bridges:
            br, vx = links[b.bridge], links[b.vxlan]
            assert owned(br) and owned(vx) and vx.master == br.index
            assert vx.info_u8(netlink.IFLA_VXLAN_LEARNING) == 0 and vx.slave_u8(netlink.IFLA_BRPORT_LEARNING) == 0
        lo = [a for a in rt.addrs() if a.index == links["lo"].index and a.address == LO]
        assert [a.proto for a in lo] == [PROTO]
    with RtSocket(f"{leaf}-t1") as rt:
        t1 = {link.name: link for link in rt.links()}
        assert all(owned(t1[f"g{b.vni}"]) and t1[f"g{b.vni}"].address == GATEWAY_MAC for b in st.bridges)
        assert {r.dst: r.protocol for r in rt.routes(AF_INET, table=254) if r.protocol == PROTO} == {
            "0.0.0.0/0": PROTO, "10.99.0.0/16": PROTO, "10.98.0.0/16": PROTO}  # fmt: skip
        assert {(a.address, a.proto) for a in rt.addrs(AF_INET) if a.index == t1["g10000"].index} == {
            ("10.64.0.1", PROTO)}  # fmt: skip


@pytest.mark.netns
def test_rereconcile_of_500_attachments_writes_nothing(big: tuple[str, SwitchState, Result]) -> None:
    leaf, st, _ = big
    opener = CountingOpener()
    with Reconciler(leaf, opener=opener) as rec:
        for _ in range(2):
            opener.reset()
            res = rec.reconcile(st)
            assert res.errors == [] and res.writes == 0, (res.summary(), res.changed[:5], res.created[:5])
            assert (res.created, res.changed, res.removed) == ([], [], [])
            assert opener.batched_writes() == []


@pytest.mark.netns
def test_tc_reads_do_not_grow_with_the_attachments(big: tuple[str, SwitchState, Result]) -> None:
    """500 shims: one batch of filter gets (a couple of send()s), a dump per trunk port and none per shim.
    With 3 VLANs per port instead of 25: the same requests."""
    leaf, st, _ = big
    opener = CountingOpener()
    with Reconciler(leaf, opener=opener) as rec:
        rec.reconcile(st)
        opener.reset()
        assert rec.reconcile(st).writes == 0
        assert opener.total("get_calls") == 1 and opener.total("gets") == len(st.attachments)
        assert opener.total("get_sends") <= -(-len(st.attachments) // netlink.MAX_GET_BATCH)
        assert opener.total("filter_dumps") == PORTS
    # Fewer VLANs per port on the same ports: as many dumps, one get call.
    with _lab(f"{leaf}x", PORTS) as (small_leaf, _):
        small = leaf_state(PORTS, 3, slice_=False)
        assert reconcile(small, small_leaf).errors == []
        opener = CountingOpener()
        with Reconciler(small_leaf, opener=opener) as rec:
            rec.reconcile(small)
            opener.reset()
            assert rec.reconcile(small).writes == 0
            assert opener.total("get_calls") == 1 and opener.total("gets") == len(small.attachments)
            assert opener.total("filter_dumps") == PORTS


@pytest.mark.netns
def test_tc_drift_is_repaired_with_the_fewest_writes(big: tuple[str, SwitchState, Result]) -> None:
    leaf, st, _ = big
    _sh(leaf, "tc", "filter", "del", "dev", "swp3~107", "ingress")  # filter gone, clsact stays
    _sh(leaf, "tc", "qdisc", "del", "dev", "swp4~108", "clsact")  # qdisc and filter gone
    _sh(leaf, "tc", "qdisc", "del", "dev", "swp5", "clsact")  # a trunk's pop program gone
    # our slot on a shim taken by a program of ours with other parameters
    fd = bpf.load_program(vlan_shim.push_program(999, 1))
    from pyroute2 import IPRoute

    with IPRoute(netns=leaf, flags=0) as ipr:
        shim = ipr.link_lookup(ifname="swp6~109")[0]
        ipr.tc("replace-filter", "bpf", shim, handle=1, parent=vlan_shim.INGRESS_PARENT, prio=1, protocol=3, fd=fd,
               name=vlan_shim.expected_push_name(999, 1), direct_action=True)  # fmt: skip
    os.close(fd)
    opener = CountingOpener()
    res = reconcile(st, leaf, opener=opener)
    assert res.errors == []
    assert sorted(opener.batched_writes()) == sorted([
        "attachment swp3 vlan 107: filter",
        "attachment swp4 vlan 108: clsact", "attachment swp4 vlan 108: filter",
        "attachment swp6 vlan 109: filter",
        "trunk swp5: clsact", "trunk swp5: filter",
    ]), opener.batched_writes()  # fmt: skip
    assert res.writes == 6
    assert sorted(c for c in res.changed if c.startswith("tc ")) == sorted([
        "tc push swp3~107 vlan 107 -> swp3", "tc push swp4~108 vlan 108 -> swp4", "tc push swp6~109 vlan 109 -> swp6",
        f"tc pop swp5 vlans {list(range(100, 100 + VLANS))}",
    ])  # fmt: skip
    assert reconcile(st, leaf).writes == 0


@pytest.mark.netns
def test_link_drift_is_repaired_in_batches(big: tuple[str, SwitchState, Result]) -> None:
    leaf, st, _ = big
    _sh(leaf, "ip", "link", "set", "swp2.101", "nomaster")
    _sh(leaf, "ip", "link", "set", "swp2~101", "down")
    _sh(leaf, "ip", "link", "set", "vx10003", "type", "vxlan", "learning")
    _sh(leaf, "ip", "link", "set", "vx10003", "type", "bridge_slave", "learning", "on")
    _sh(leaf, "ip", "link", "set", "r10004", "alias", "")
    opener = CountingOpener()
    res = reconcile(st, leaf, opener=opener)
    assert res.errors == []
    assert sorted(opener.batched_writes()) == sorted([
        "attachment swp2 vlan 101: set master", "attachment swp2 vlan 101: set state",
        "segment 10003 (br10003/vx10003): nolearning", "segment 10003 (br10003/vx10003): bridge port learning off",
        "slice t1 interface g10004: set ifalias",
    ]), opener.batched_writes()  # fmt: skip
    assert sorted(c for c in res.changed if c.startswith("link ")) == sorted([
        f"link swp2.101@{leaf}: master", f"link swp2~101@{leaf}: state", "link vx10003: nolearning",
        "link vx10003: bridge port learning off", f"link r10004@{leaf}: ifalias",
    ])  # fmt: skip
    with RtSocket(leaf) as rt:
        vx = rt.get_link("vx10003")
    assert vx is not None and vx.info_u8(netlink.IFLA_VXLAN_LEARNING) == 0
    assert vx.slave_u8(netlink.IFLA_BRPORT_LEARNING) == 0
    assert reconcile(st, leaf).writes == 0


@pytest.mark.netns
def test_foreign_filter_on_a_trunk_port_is_removed_in_the_batch(big: tuple[str, SwitchState, Result]) -> None:
    """A port's hook is read with a dump: a filter that is not ours is found, deleted in the same batch as
    our program is put back, and our program stays."""
    leaf, st, _ = big
    from pyroute2 import IPRoute

    fd = bpf.load_program(vlan_shim.pop_program({}))
    try:
        with IPRoute(netns=leaf, flags=0) as ipr:
            port = ipr.link_lookup(ifname="swp7")[0]
            ipr.tc("add-filter", "bpf", port, handle=1, parent=vlan_shim.INGRESS_PARENT, prio=7, protocol=3, fd=fd,
                   name="someone-else", direct_action=True)  # fmt: skip
    finally:
        os.close(fd)
    opener = CountingOpener()
    res = reconcile(st, leaf, opener=opener)
    assert res.errors == []
    assert opener.batched_writes() == ["trunk swp7: remove filter pref 7", "trunk swp7: filter"]
    assert res.writes == 2
    out = _sh(leaf, "tc", "filter", "show", "dev", "swp7", "ingress")
    assert "someone-else" not in out and "psw1:pop:" in out
    assert reconcile(st, leaf).writes == 0


@pytest.mark.netns
def test_ingress_qdisc_in_clsacts_slot_is_replaced_in_the_batch(big: tuple[str, SwitchState, Result]) -> None:
    """An old-style `ingress` qdisc occupies clsact's slot on a shim: it goes, a clsact comes, our program is
    attached, all in the batch of the other hooks' writes."""
    leaf, st, _ = big
    _sh(leaf, "tc", "qdisc", "del", "dev", "swp8~110", "clsact")
    _sh(leaf, "tc", "qdisc", "add", "dev", "swp8~110", "ingress")
    opener = CountingOpener()
    res = reconcile(st, leaf, opener=opener)
    assert res.errors == []
    assert opener.batched_writes() == [
        "attachment swp8 vlan 110: remove ingress", "attachment swp8 vlan 110: clsact",
        "attachment swp8 vlan 110: filter",
    ]  # fmt: skip
    assert res.changed == ["tc push swp8~110 vlan 110 -> swp8"]
    assert "clsact" in _sh(leaf, "tc", "qdisc", "show", "dev", "swp8~110")
    assert reconcile(st, leaf).writes == 0


@pytest.mark.netns
def test_the_agent_never_loads_pyroute2(big: tuple[str, SwitchState, Result]) -> None:
    """The agent's one write path is its transaction on its own netlink sockets: an agent process that finds
    drift and repairs it has not even imported pyroute2 (the lab and these tests use it, not the agent)."""
    leaf, st, _ = big
    _sh(leaf, "tc", "filter", "del", "dev", "swp3~107", "ingress")
    code = f"""
import sys
from podswitch.agent import main  # everything the agent process imports
from podswitch.agent.reconcile import Reconciler
from podswitch.fabric.state import parse_desired

st = parse_desired(sys.stdin.read()).state
with Reconciler({leaf!r}) as rec:
    res = rec.reconcile(st)
    assert res.errors == [] and res.writes == 1 and res.changed == ["tc push swp3~107 vlan 107 -> swp3"], res
    assert rec.reconcile(st).writes == 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "pyroute2")
assert not loaded, loaded
"""
    document = serialize(DesiredState(revision=1, etag="e", state=st)).decode()
    proc = subprocess.run(
        [sys.executable, "-c", code], input=document, text=True, capture_output=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.netns
def test_removing_attachments_in_one_batch(big: tuple[str, SwitchState, Result]) -> None:
    """A port that loses all its VLANs: its veth pairs go in one batch (one request per pair), the pop
    program goes, and the other ports are untouched. Then back."""
    leaf, st, _ = big
    fewer = replace(st, attachments=tuple(a for a in st.attachments if a.port != "swp19"))
    opener = CountingOpener()
    res = reconcile(fewer, leaf, opener=opener)
    assert res.errors == []
    gone = [w for w in opener.batched_writes() if w.startswith("remove swp19")]
    assert len(gone) == VLANS  # one delete per pair: its other end goes with it
    assert "tc pop swp19" in res.removed
    with RtSocket(leaf) as rt:
        names = {link.name for link in rt.links()}
    assert not any(n.startswith(("swp19.", "swp19~")) for n in names) and "swp18~100" in names
    res = reconcile(st, leaf)
    assert res.errors == [] and reconcile(st, leaf).writes == 0


# ---- the kernel is the desired state, object by object ---------------------------------------------


def snapshot(switch: str, suffix: str = "") -> dict[str, Any]:
    """What podswitch programs in one namespace (`switch` + `suffix`), by name (ifindexes differ between
    two namespaces), without what the kernel makes up by itself (random MACs, IPv6 link-local addresses
    and routes) and with the switch namespace's name (in slice marks) taken out."""
    with RtSocket(switch + suffix) as rt:
        links = rt.links()
        name = {link.index: link.name for link in links}

        def names_in(filter_name: str | None) -> str | None:
            st = vlan_shim._parse_name(filter_name) if filter_name else None
            if st is None or st.vlans is None:
                return filter_name
            return f"{st.kind}:" + ",".join(f"{v}>{name.get(i, i)}" for v, i in sorted(st.vlans.items()))

        out: dict[str, Any] = {"links": {}, "tc": {}}
        slots = {i: kind for i, _, kind in rt.qdiscs(vlan_shim.CLSACT_PARENT)}
        for link in links:
            alias = link.alias.replace(switch, "NS") if link.alias else link.alias
            d: dict[str, Any] = {"kind": link.kind, "alias": alias, "mtu": link.mtu, "up": link.up,
                                 "master": name.get(link.master), "slave": link.slave_kind}  # fmt: skip
            if link.kind == "veth":
                d["peer"] = name.get(link.link) if link.link_netnsid is None else "other namespace"
            if link.address == GATEWAY_MAC:
                d["address"] = link.address
            if link.kind == "vxlan":
                d["vxlan"] = (link.info_u32(netlink.IFLA_VXLAN_ID), link.info_be16(netlink.IFLA_VXLAN_PORT),
                              link.info_ip(netlink.IFLA_VXLAN_LOCAL),
                              link.info_u8(netlink.IFLA_VXLAN_LEARNING))  # fmt: skip
            if link.slave_kind == "bridge":
                d["learning"] = link.slave_u8(netlink.IFLA_BRPORT_LEARNING)
            out["links"][link.name] = d
            if link.index in slots:
                out["tc"][link.name] = (slots[link.index], sorted(
                    (f.prio, f.protocol, f.handle, f.kind, names_in(f.bpf_name), f.bpf_flags)
                    for f in rt.filters(link.index, vlan_shim.INGRESS_PARENT)))  # fmt: skip
        out["addrs"] = sorted((name[a.index], a.cidr, a.proto, a.scope) for a in rt.addrs()
                              if a.family == AF_INET or a.proto == PROTO)  # fmt: skip
        out["routes"] = sorted(
            (r.dst, r.protocol, r.type, r.scope, sorted((gw or "", name.get(oif, "")) for gw, oif in r.nexthops()))
            for r in rt.routes(AF_UNSPEC, table=254) if r.family == AF_INET or r.protocol == PROTO
        )  # fmt: skip
        out["neighbours"] = sorted((name[n.ifindex], n.dst, n.lladdr, n.state, n.protocol)
                                   for n in rt.neighbours(AF_UNSPEC)
                                   if n.family in (AF_INET, AF_INET6) and n.state & NUD_PERMANENT)  # fmt: skip
        out["fdb"] = sorted((name.get(e.ifindex), e.lladdr, e.dst or "", e.state, e.flags, name.get(e.master, ""))
                            for e in rt.neighbours(AF_BRIDGE)
                            if e.state == NUD_NOARP or (e.flags & NTF_SELF and e.dst is not None))  # fmt: skip
    return out


def changed_state(st: SwitchState) -> SwitchState:
    """Something of everything: an attachment and a segment gone, a VLAN added, routes and addresses and
    neighbours changed, the slice link gone."""
    atts = tuple(a for a in st.attachments if a.vni != 10001 and not (a.port == "swp0" and a.vlan == 100))
    atts += (VlanAttachment(port="swp2", vlan=777, vni=10002, subif="swp2.777", shim="swp2~777"),)
    t1, sys_ = next(s for s in st.slices if s.name == "t1"), next(s for s in st.slices if s.name == "sys")
    t1 = replace(t1,
        interfaces=tuple(
            replace(i, addresses=("10.64.0.1/25", "fd00:64::1/64")) if i.ifname == "g10000" else i
            for i in t1.interfaces if i.ifname != "g10001"),
        neighbours=(*(n for n in t1.neighbours if n.dev != "g10001"),
                    Neighbour(ip="fd00:64::10", mac="02:00:02:00:00:99", dev="g10000")),
        routes=(SliceRoute(prefix="10.99.0.0/16", kind="unreachable"),
                SliceRoute(prefix="10.97.0.0/16", via=("10.64.0.20", "10.64.0.21"), dev="g10000"),
                SliceRoute(prefix="fd00:97::/64", via=("fd00:64::20",), dev="g10000")),
    )  # fmt: skip
    sys_ = replace(sys_, links=(), routes=())
    return replace(st,
        bridges=tuple(b for b in st.bridges if b.vni != 10001),
        attachments=tuple(sorted(atts, key=lambda a: (a.port, a.vlan))),
        local_macs=tuple(m for m in st.local_macs if m.bridge != "br10001"),
        slices=(sys_, t1),
    )  # fmt: skip


def kernel_view(ns: str) -> dict[str, Any]:
    """What podswitch made in namespace `ns`, read back from the kernel by name: the devices it marked
    (kind, up, master, veth peer), the gateway legs' MAC, the VXLAN settings, the tc programs (with names
    for ifindexes) and what is on their hooks besides, the marked addresses, routes and neighbours, the
    static FDB entries and the mark on a slice's `lo`."""
    with RtSocket(ns) as rt:
        links = rt.links()
        name = {link.index: link.name for link in links}
        ours = [link for link in links if owned(link)]
        out: dict[str, Any] = {"lo": next(link.alias for link in links if link.name == "lo")}
        out["links"] = {
            link.name: (
                link.kind,
                link.up,
                name.get(link.master),
                (name.get(link.link) if link.link_netnsid is None else "other namespace")
                if link.kind == "veth"
                else None,
            )
            for link in ours
        }
        out["macs"] = {link.name: link.address for link in ours if link.address == GATEWAY_MAC}
        out["vxlan"] = {
            link.name: (
                link.info_u32(netlink.IFLA_VXLAN_ID),
                link.info_be16(netlink.IFLA_VXLAN_PORT),
                link.info_ip(netlink.IFLA_VXLAN_LOCAL),
                link.info_u8(netlink.IFLA_VXLAN_LEARNING),
                link.slave_u8(netlink.IFLA_BRPORT_LEARNING),
                link.mtu,
            )
            for link in ours
            if link.kind == "vxlan"
        }

        def names_in(filter_name: str | None) -> str | None:
            st = vlan_shim._parse_name(filter_name) if filter_name else None
            if st is None or st.vlans is None:
                return filter_name
            return f"{st.kind}:" + ",".join(f"{v}>{name.get(i, i)}" for v, i in sorted(st.vlans.items()))

        out["tc"] = {}
        for ifindex, _, kind in rt.qdiscs(vlan_shim.CLSACT_PARENT):
            hook = vlan_shim.read_hook(rt, ifindex)
            out["tc"][name[ifindex]] = (kind, names_in(hook.ours), hook.foreign)
        out["addrs"] = sorted((name[a.index], a.cidr) for a in rt.addrs() if a.proto == PROTO)
        out["routes"] = sorted(
            (r.dst, r.type, sorted((gw or "", name.get(oif, "")) for gw, oif in r.nexthops()))
            for r in rt.routes(AF_UNSPEC, table=254)
            if r.protocol == PROTO
        )
        out["neighbours"] = sorted(
            (name[n.ifindex], n.dst, n.lladdr)
            for n in rt.neighbours(AF_UNSPEC)
            if n.state & NUD_PERMANENT and n.protocol == PROTO
        )
        out["fdb"] = sorted(
            (name[e.ifindex], e.lladdr, e.dst or "")
            for e in rt.neighbours(AF_BRIDGE)
            if (e.state == NUD_NOARP and e.master) or (e.flags & NTF_SELF and e.dst is not None)
        )
    return out


def desired_view(st: SwitchState, switch: str, slice_name: str | None = None) -> dict[str, Any]:
    """The same view of the switch's namespace (or of one slice's), computed from the desired state alone."""
    other = "other namespace"
    out: dict[str, Any] = {
        "lo": None,
        "links": {},
        "macs": {},
        "vxlan": {},
        "tc": {},
        "addrs": [],
        "routes": [],
        "neighbours": [],
        "fdb": [],
    }
    if slice_name is None:
        bridge = {b.vni: b.bridge for b in st.bridges}
        for b in st.bridges:
            out["links"][b.bridge] = ("bridge", True, None, None)
            out["links"][b.vxlan] = ("vxlan", True, b.bridge, None)
            out["vxlan"][b.vxlan] = (b.vni, VXLAN_PORT, st.loopback, 0, 0, OVERLAY_MTU)
            out["fdb"] += [(b.vxlan, ZERO_MAC, vtep) for vtep in b.flood if vtep != st.loopback]
            for rm in b.remote_macs:  # a VXLAN destination and the bridge entry that points at it
                out["fdb"] += [(b.vxlan, rm.mac, rm.vtep), (b.vxlan, rm.mac, "")]
        trunks: dict[str, dict[int, str]] = {}
        for a in st.attachments:
            out["links"][a.subif] = ("veth", True, bridge[a.vni], a.shim)
            out["links"][a.shim] = ("veth", True, None, a.subif)
            out["tc"][a.shim] = ("clsact", f"push:{a.vlan}>{a.port}", [])
            trunks.setdefault(a.port, {})[a.vlan] = a.shim
        for port, vlans in trunks.items():
            out["tc"][port] = ("clsact", "pop:" + ",".join(f"{v}>{shim}" for v, shim in sorted(vlans.items())), [])
        for s in st.slices:
            for i in s.interfaces:
                out["links"][i.peer] = ("veth", True, i.bridge, other)
        out["fdb"] += [(m.dev, m.mac, "") for m in st.local_macs]
        out["addrs"] = [("lo", f"{st.loopback}/32")]
    else:
        s = next(s for s in st.slices if s.name == slice_name)
        out["lo"] = slice_ns_alias(switch)
        for i in s.interfaces:
            out["links"][i.ifname] = ("veth", True, None, other)
            out["macs"][i.ifname] = i.mac
            out["addrs"] += [(i.ifname, a) for a in i.addresses]
        for peer in st.slices:
            for lk in peer.links:
                if peer.name == s.name:
                    out["links"][lk.ifname] = ("veth", True, None, other)
                    out["addrs"].append((lk.ifname, lk.address))
                elif lk.peer_slice == s.name:
                    out["links"][lk.peer_ifname] = ("veth", True, None, other)
                    out["addrs"].append((lk.peer_ifname, lk.peer_address))
        for r in s.routes:
            if r.kind == "unreachable":
                out["routes"].append((r.prefix, RTN_UNREACHABLE, []))
            else:
                hops = sorted((via, r.dev or "") for via in r.via) if r.via else [("", r.dev or "")]
                out["routes"].append((r.prefix, RTN_UNICAST, hops))
        out["neighbours"] = [(n.dev, n.ip, n.mac) for n in s.neighbours]
    for key in ("addrs", "routes", "neighbours", "fdb"):
        out[key] = sorted(out[key])
    return out


def assert_is_desired(st: SwitchState, switch: str) -> None:
    assert kernel_view(switch) == desired_view(st, switch)
    for s in st.slices:
        assert kernel_view(f"{switch}-{s.name}") == desired_view(st, switch, s.name), s.name


@pytest.mark.netns
def test_the_kernel_is_the_desired_state_object_by_object(netns_prefix: str) -> None:
    """A small leaf built from empty, then changed in everything: after each step every object podswitch
    made is read back by name and equals what the desired state says, nothing of ours is left over, and
    a re-reconcile writes nothing. The changed kernel is also the very kernel that a build from empty of the
    changed state makes. Every request of the build decodes with pyroute2."""
    _require_root()
    st = leaf_state(4, 3)
    ch = changed_state(st)
    with _lab(f"{netns_prefix}ba", 4) as (a, _), _lab(f"{netns_prefix}bb", 4) as (b, _):
        opener = CountingOpener()
        res = reconcile(st, a, opener=opener)
        assert res.errors == []
        assert_is_desired(st, a)
        ops = [op for rt in opener.rts for op in rt.ops]
        assert len(ops) == res.writes - sum(c.startswith(("sysctl ", "netns ")) for c in res.changed + res.created)
        calls = [as_call(op) for op in ops]  # each decodes, as the call it stands for
        assert (
            "link",
            "add",
            (),
            {
                "ifname": "swp0.100",
                "kind": "veth",
                "peer": {"ifname": "swp0~100"},
                "master": kernel_ifindex(a, "br10000"),
                "state": "up",
            },
        ) in calls
        assert reconcile(st, a).writes == 0
        # a change of everything
        res = reconcile(ch, a)
        assert res.errors == [], res.errors
        assert_is_desired(ch, a)
        gone = {f"link swp0.100@{a} (no longer desired)", f"link swp0~100@{a} (no longer desired)"}
        assert len(gone & set(res.removed)) == 1 and f"netns {a}-sys" not in res.removed  # a pair: one delete
        assert f"route 10.97.0.0/16@{a}-t1" in res.created and f"route 10.98.0.0/16@{a}-t1" in res.removed
        assert reconcile(ch, a).writes == 0
        # the same state built from empty: the same kernel
        assert reconcile(ch, b).errors == []
        for suffix in ("", "-t1", "-sys"):
            assert snapshot(a, suffix) == snapshot(b, suffix), suffix
        routes = _sh(b + "-t1", "ip", "-6", "route", "show", "proto", str(PROTO))
        assert "fd00:97::/64 via fd00:64::20 dev g10000" in routes


def kernel_ifindex(ns: str, ifname: str) -> int:
    with RtSocket(ns) as rt:
        link = rt.get_link(ifname)
    assert link is not None
    return link.index


# ---- traffic after a batched build ---------------------------------------------------------------


@pytest.mark.netns
def test_ping_across_a_vlan_attachment_after_a_batched_build(netns_prefix: str) -> None:
    """Two servers tagging with the shim on swp0 and swp1, VLAN 100: they reach each other through the
    segment bridge, and the anycast gateway of the router slice, all made by the batched path."""
    _require_root()
    from pyroute2 import IPRoute

    st = leaf_state(2, 2)
    with _lab(f"{netns_prefix}bp", 2) as (leaf, server):
        from pyroute2 import netns

        hosts = [f"{netns_prefix}bph{p}" for p in range(2)]
        with IPRoute(netns=server, flags=0) as ipr:
            for p, host in enumerate(hosts):
                netns.create(host)
                # move the server end of swp<p> into its own host namespace, as eth0
                eth = ipr.link_lookup(ifname=f"eth{p}")[0]
                ipr.link("set", index=eth, net_ns_fd=host, ifname="eth0")
        for p, host in enumerate(hosts):
            with IPRoute(netns=host, flags=0) as h:
                eth0 = h.link_lookup(ifname="eth0")[0]
                h.link("set", index=eth0, state="up")
                h.link("add", ifname="e100", kind="veth", peer="e100p")
                sub, shim = h.link_lookup(ifname="e100")[0], h.link_lookup(ifname="e100p")[0]
                h.link("set", index=sub, address=f"02:00:00:00:0{p}:01", state="up")
                h.link("set", index=shim, state="up")
                vlan_shim.ensure_push(h, shim, 100, eth0)
                vlan_shim.ensure_trunk(h, eth0, {100: shim})
                h.addr("add", index=sub, address=f"10.64.0.{11 + p}", prefixlen=24)
        opener = CountingOpener()
        res = reconcile(st, leaf, opener=opener)
        assert res.errors == []
        assert len(opener.batched_writes()) > 20  # built by batches

        def ping(src: str, dst: str) -> bool:
            for _ in range(20):  # the first packets resolve ARP: a few tries, not a time budget
                r = subprocess.run(["ip", "netns", "exec", src, "ping", "-c", "1", "-W", "1", dst],
                                   capture_output=True, text=True, check=False)  # fmt: skip
                if r.returncode == 0:
                    return True
            return False

        try:
            assert ping(hosts[0], "10.64.0.12")  # L2: swp0.100 -> br10000 -> swp1.100
            assert ping(hosts[0], "10.64.0.1")  # the gateway leg g10000 in the slice
            out = _sh(leaf, "tc", "-s", "filter", "show", "dev", "swp0~100", "ingress")
            assert "psw1:push:100>" in out
        finally:
            _delete(f"{netns_prefix}bph")


# ---- errors inside a batch stay with their object -------------------------------------------------


@pytest.mark.netns
def test_a_failing_object_in_a_batch_is_reported_alone(netns_prefix: str) -> None:
    _require_root()
    st = leaf_state(3, 2, slice_=False)
    bad = VlanAttachment(port="swp1", vlan=300, vni=10000, subif="swp1.300", shim="swp1~300-much-too-long")
    broken = replace(st, attachments=(*st.attachments, bad))
    with _lab(f"{netns_prefix}be", 3) as (leaf, _):
        res = reconcile(broken, leaf)
        assert len(res.errors) == 1 and "swp1 vlan 300" in res.errors[0], res.errors
        with RtSocket(leaf) as rt:
            names = {link.name for link in rt.links()}
        assert {a.subif for a in st.attachments} <= names and "swp1.300" not in names
        # the rest is complete: the good state on top writes only what the bad one could not have
        res = reconcile(st, leaf)
        assert res.errors == [] and reconcile(st, leaf).writes == 0


# ---- the batched filter gets ----------------------------------------------------------------------


@pytest.mark.netns
def test_filter_gets_answer_in_order_with_errnos(netns_prefix: str) -> None:
    _require_root()
    st = leaf_state(2, 2, slice_=False)
    with _lab(f"{netns_prefix}bf", 2) as (leaf, _):
        assert reconcile(st, leaf).errors == []

        class Lossy(RtSocket):
            lost = 0

            def _get_chunk(self, keys: Any) -> list:
                if not self.lost:
                    self.lost += 1
                    super()._get_chunk(keys)
                    raise netlink.NetlinkError(errno.ENOBUFS, "simulated overflow")
                return super()._get_chunk(keys)

        with Lossy(leaf) as rt:
            links = {link.name: link for link in rt.links()}
            shim, sub = links["swp0~100"].index, links["swp0.100"].index
            key = (shim, vlan_shim.INGRESS_PARENT, 1, 3, 1)
            keys = [key, (sub, *key[1:]), (999_999, *key[1:]), (shim, *key[1:3], 3, 2)] * 200
            answers = rt.get_filters(keys)
        assert len(answers) == len(keys)
        for i in range(0, len(keys), 4):
            ours, no_qdisc, no_dev, no_handle = answers[i : i + 4]
            assert isinstance(ours, netlink.Filter) and ours.bpf_name == vlan_shim.expected_push_name(
                100, links["swp0"].index)  # fmt: skip
            assert ours.bpf_flags == 1 and (ours.prio, ours.protocol, ours.handle) == (1, 3, 1)
            assert no_qdisc in (errno.EINVAL, errno.ENOENT)
            assert no_dev == errno.ENODEV
            assert no_handle == errno.ENOENT
        assert re.match(r"psw1:push:100>\d+$", ours.bpf_name)
