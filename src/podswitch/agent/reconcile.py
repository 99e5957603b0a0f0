"""Make a switch's kernel equal to its desired state: read, diff, apply only the difference.

`reconcile(desired, netns)` (or a long-lived `Reconciler`, which keeps its netlink handles between runs)
reads the kernel of the switch namespace and of its router-slice namespaces, compares it with the
`SwitchState`, and writes only what differs, with replace-style operations. Nothing that is already right
is flushed or recreated, so a second run against a correct kernel performs zero writes, and a restarted
agent drops no packet (DESIGN.md §4). One failing object does not stop the rest: its error is collected in
`Result.errors` and the run goes on.

Only podswitch-owned objects are ever removed (see `kernel` for the marks). Devices the state names that
already exist with the right kind are adopted (marked) rather than recreated; a device with a wanted name
but another kind that podswitch does not own is reported and left alone."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..fabric.state import OVERLAY_MTU, VXLAN_PORT, SegmentBridge, Slice, SwitchState
from . import netlink, netns
from .kernel import (
    OWNER_ALIAS,
    PROTO,
    DefaultOpener,
    Namespace,
    Opener,
    describe_error,
    oper_state,
    owned,
    slice_ns_alias,
    slice_ns_name,
)
from .netlink import (
    AF_BRIDGE,
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    NTF_MASTER,
    NTF_SELF,
    NUD_NOARP,
    NUD_PERMANENT,
    RT_TABLE_MAIN,
    RTN_UNICAST,
    RTN_UNREACHABLE,
    Link,
    Op,
    neigh_op,
)

log = logging.getLogger(__name__)

ZERO_MAC = "00:00:00:00:00:00"
MAX_LOGGED_ERRORS = 20
CLSACT_PARENT = 0xFFFFFFF1

SWITCH_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    # Underlay ECMP is asymmetric and slices route between each other: strict reverse-path checks would
    # drop legitimate packets. (The effective value is max(all, interface), hence both and per port.)
    "net/ipv4/conf/all/rp_filter": "0",
    "net/ipv4/conf/default/rp_filter": "0",
    # A dead uplink's routes stay in the FIB but must not be used: ECMP then hashes onto the live ones.
    "net/ipv4/conf/all/ignore_routes_with_linkdown": "1",
}
SLICE_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/ipv4/conf/all/rp_filter": "0",
    "net/ipv4/conf/default/rp_filter": "0",
}


@dataclass
class Result:
    """What one reconcile did. `writes` counts kernel write requests: netlink requests (each entry of a
    batch counts once), sysctl writes, namespace creations/removals and nft transactions."""

    switch: str
    netns: str | None
    writes: int = 0
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # fabric and attachment ports: "up" | "down"

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"writes={self.writes} created={len(self.created)} changed={len(self.changed)} "
            f"removed={len(self.removed)} errors={len(self.errors)}"
        )


class Reconciler:
    """Reconciles one switch namespace; keeps handles on it and its slice namespaces between runs."""

    def __init__(self, netns_name: str | None, *, opener: Opener | None = None) -> None:
        self.netns = netns_name
        self.opener: Opener = opener if opener is not None else DefaultOpener()
        self._handles: dict[str | None, Namespace] = {}

    def __enter__(self) -> Reconciler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def handle(self, name: str | None) -> Namespace:
        h = self._handles.get(name)
        if h is not None and h.stale():  # deleted and recreated under us: the old socket sees a dead netns
            h.close()
            del self._handles[name]
            h = None
        if h is None:
            if name is not None and not netns.exists(name):
                raise FileNotFoundError(2, "network namespace does not exist", name)
            h = Namespace(name, self.opener)
            self._handles[name] = h
        h.forget_links()  # every run starts from a fresh read
        return h

    def drop(self, name: str) -> None:
        h = self._handles.pop(name, None)
        if h is not None:
            h.close()

    def reconcile(self, desired: SwitchState) -> Result:
        run = _Run(self, desired)
        run.execute()
        return run.result


def reconcile(desired: SwitchState, netns: str | None, *, opener: Opener | None = None) -> Result:
    """One-shot reconcile of the switch in namespace `netns` (None: the current namespace)."""
    with Reconciler(netns, opener=opener) as r:
        return r.reconcile(desired)


# ---- the work of one run ----------------------------------------------------------------------------


def _iface(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(cidr)


def _net(prefix: str) -> str:
    return str(ipaddress.ip_network(prefix, strict=False))


@functools.lru_cache(maxsize=65536)
def _ip(addr: str) -> str:
    """Canonical text of an IP address (as the kernel's dumps print it). Called for every FDB entry and
    neighbour, so inet_pton/ntop rather than `ipaddress` (10x faster); cached as VTEPs repeat."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, addr))
        except OSError:
            continue
    raise ValueError(f"not an IP address: {addr!r}")


class _Run:
    def __init__(self, rec: Reconciler, desired: SwitchState) -> None:
        self.rec = rec
        self.desired = desired
        self.result = Result(switch=desired.switch, netns=rec.netns)
        self._base: dict[str | None, tuple[Namespace, int]] = {}
        self.extra_writes = 0
        self.loopback = _ip(desired.loopback.split("/")[0]) if desired.loopback else None
        self.bridges: dict[int, SegmentBridge] = {}
        self.bridge_by_name: dict[str, SegmentBridge] = {}
        for b in desired.bridges:
            self.bridges[b.vni] = b
            self.bridge_by_name[b.bridge] = b

    # -- bookkeeping

    def ns(self, name: str | None) -> Namespace:
        h = self.rec.handle(name) if name not in self._base else self._base[name][0]
        if name not in self._base:
            self._base[name] = (h, h.total_writes)
        return h

    def error(self, what: str, e: BaseException | str) -> None:
        text = e if isinstance(e, str) else describe_error(e)
        self.result.errors.append(f"{what}: {text}")
        # A systematic failure can hit thousands of objects: log the first few, the Result has them all.
        if len(self.result.errors) <= MAX_LOGGED_ERRORS:
            log.warning("reconcile %s: %s: %s", self.desired.switch, what, text)
        elif len(self.result.errors) == MAX_LOGGED_ERRORS + 1:
            log.warning("reconcile %s: more errors, not logged one by one", self.desired.switch)

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as e:
            self.error(what, e)

    def execute(self) -> None:
        try:
            sw = self.ns(self.rec.netns)
        except Exception as e:
            self.error(f"switch namespace {self.rec.netns}", e)
            return
        try:
            self.sw = sw
            self._run(sw)
        finally:
            self.result.writes = self.extra_writes + sum(h.total_writes - base for h, base in self._base.values())

    def _run(self, sw: Namespace) -> None:
        d = self.desired
        with self.guard("sysctl"):
            self._sysctls(sw)
        with self.guard("stale links"):
            self._remove_stale_links(sw)
        addrs: dict[str, list[str]] = {}
        with self.guard("lo"):
            self._ensure_link_attrs(sw, sw.link("lo"), "lo", up=True)
            if self.loopback:
                addrs["lo"] = [f"{self.loopback}/32"]
        for port in d.fabric_ports:
            with self.guard(f"fabric port {port.ifname}"):
                link = sw.link(port.ifname)
                if link is None:
                    raise LookupError("no such device (not cabled?)")
                self._ensure_link_attrs(sw, link, port.ifname, up=True, mtu=port.mtu)
                addrs[port.ifname] = [port.address]
        with self.guard("addresses"):
            self._sync_addresses(sw, addrs)
        with self.guard("underlay routes"):
            self._sync_underlay_routes(sw)
        for b in d.bridges:
            with self.guard(f"segment {b.vni} ({b.bridge}/{b.vxlan})"):
                self._bridge(sw, b)
        self._attachments(sw)
        self._slices(sw)
        with self.guard("fdb"):
            self._sync_fdb(sw)
        with self.guard("stale slices"):
            self._remove_stale_slices()
        links = sw.links(refresh=True)
        for port in d.fabric_ports:
            self.result.links[port.ifname] = oper_state(links.get(port.ifname))
        for a in d.attachments:
            self.result.links[a.port] = oper_state(links.get(a.port))

    # -- generic link handling

    def _ensure_link_attrs(
        self,
        ns: Namespace,
        link: Link | None,
        name: str,
        *,
        up: bool = True,
        mtu: int | None = None,
        master: int | None = None,
        address: str | None = None,
        alias: str | None = None,
        created: bool = False,
    ) -> Link:
        """Set what differs in one request (a `link set`); `alias` marks ownership."""
        if link is None:
            raise LookupError(f"{name}: no such device")
        changes: dict[str, Any] = {}
        if alias is not None and link.alias != alias:
            changes["ifalias"] = alias
        if mtu is not None and link.mtu != mtu:
            changes["mtu"] = mtu
        if master is not None and link.master != master:
            changes["master"] = master
        if address is not None and (link.address or "").lower() != address.lower():
            changes["address"] = address.lower()
        if up and not link.up:
            changes["state"] = "up"
        if not changes:
            return link
        ns.ipr.link("set", index=link.index, **changes)
        if not created:
            self.result.changed.append(f"link {name}{_where(ns)}: {', '.join(sorted(changes))}")
        fresh = ns.refresh_link(name)
        if fresh is None:
            raise LookupError(f"{name}: vanished")
        return fresh

    def _delete_link(self, ns: Namespace, link: Link, why: str) -> None:
        ns.ipr.link("del", index=link.index)
        self.result.removed.append(f"link {link.name}{_where(ns)} ({why})")
        ns.forget_links()  # a veth takes its peer with it

    def _ensure_link(
        self,
        ns: Namespace,
        name: str,
        kind: str,
        create: dict[str, Any],
        fits: Callable[[Link], bool] = lambda link: True,
    ) -> tuple[Link, bool]:
        """The device `name` of `kind` that `fits`; created if missing, recreated if ours and wrong."""
        link = ns.link(name)
        if link is not None and (link.kind != kind or not fits(link)):
            if not owned(link):
                what = "another kind" if link.kind != kind else "other immutable settings"
                raise RuntimeError(f"{name} exists with {what} ({link.kind}) and is not podswitch's: left alone")
            self._delete_link(ns, link, "wrong kind or settings")
            link = None
        if link is not None:
            return link, False
        ns.ipr.link("add", ifname=name, kind=kind, **create)
        self.result.created.append(f"link {name}{_where(ns)}")
        fresh = ns.refresh_link(name)
        if fresh is None:
            raise LookupError(f"{name}: created but not found")
        return fresh, True

    def _remove_stale_links(self, sw: Namespace) -> None:
        d = self.desired
        wanted = {b.bridge for b in d.bridges} | {b.vxlan for b in d.bridges}
        wanted |= {a.subif for a in d.attachments} | {a.shim for a in d.attachments}
        wanted |= {i.peer for s in d.slices for i in s.interfaces}
        for link in list(sw.links().values()):
            if owned(link) and link.name not in wanted and sw.link(link.name) is not None:
                with self.guard(f"remove {link.name}"):
                    self._delete_link(sw, link, "no longer desired")

    # -- sysctls

    def _sysctls(self, sw: Namespace) -> None:
        wanted = dict(SWITCH_SYSCTLS)
        links = sw.links()
        for port in self.desired.fabric_ports:
            if port.ifname in links:
                wanted[f"net/ipv4/conf/{port.ifname}/rp_filter"] = "0"
        self._apply_sysctls(sw, wanted)

    def _apply_sysctls(self, ns: Namespace, wanted: dict[str, str]) -> None:
        written, errors = ns.ensure_sysctls(wanted)
        for key in written:
            self.result.changed.append(f"sysctl {key}={wanted[key]}{_where(ns)}")
        for key, e in errors.items():
            self.error(f"sysctl {key}{_where(ns)}", e)

    # -- addresses and routes

    def _sync_addresses(self, ns: Namespace, wanted: dict[str, list[str]]) -> None:
        """Add the wanted addresses (marked), remove marked addresses that are no longer wanted."""
        links = ns.links()
        want: dict[int, dict[tuple[str, int], str]] = defaultdict(dict)
        for ifname, cidrs in wanted.items():
            link = links.get(ifname)
            if link is None:
                if cidrs:
                    self.error(f"addresses on {ifname}{_where(ns)}", "no such device")
                continue
            for cidr in cidrs:
                try:
                    iface = _iface(cidr)
                except ValueError as e:
                    self.error(f"address {cidr} on {ifname}{_where(ns)}", e)
                    continue
                want[link.index][(str(iface.ip), iface.network.prefixlen)] = ifname
        have: dict[int, dict[tuple[str, int], netlink.Addr]] = defaultdict(dict)
        for a in ns.rt.addrs():
            have[a.index][(_ip(a.address), a.prefixlen)] = a
        for index, addrs in want.items():
            for (ip, plen), ifname in addrs.items():
                if (ip, plen) in have[index]:
                    continue
                with self.guard(f"address {ip}/{plen} on {ifname}{_where(ns)}"):
                    ns.ipr.addr("replace", index=index, address=ip, prefixlen=plen, proto=PROTO)
                    self.result.created.append(f"address {ip}/{plen} {ifname}{_where(ns)}")
        for index, addrs in have.items():
            for (ip, plen), a in addrs.items():
                if a.proto == PROTO and (ip, plen) not in want.get(index, {}):
                    with self.guard(f"remove address {ip}/{plen}{_where(ns)}"):
                        ns.ipr.addr("del", index=index, address=ip, prefixlen=plen)
                        self.result.removed.append(f"address {ip}/{plen}{_where(ns)}")

    def _sync_underlay_routes(self, sw: Namespace) -> None:
        links = sw.links()
        wanted: dict[str, _RouteSpec] = {}
        for r in self.desired.underlay_routes:
            try:
                hops = []
                for nh in r.nexthops:
                    if nh.dev not in links:
                        raise LookupError(f"nexthop device {nh.dev} missing")
                    hops.append((_ip(nh.via), links[nh.dev].index))
                wanted[_net(r.prefix)] = _RouteSpec(RTN_UNICAST, tuple(hops), match_oif=True)
            except Exception as e:
                self.error(f"underlay route {r.prefix}", e)
        self._sync_routes(sw, wanted)

    def _sync_routes(self, ns: Namespace, wanted: dict[str, _RouteSpec]) -> None:
        have: dict[str, list[netlink.Route]] = defaultdict(list)
        for r in ns.rt.routes(AF_UNSPEC):
            if r.table == RT_TABLE_MAIN and r.family in (AF_INET, AF_INET6):
                have[_net(r.dst)].append(r)
        for prefix, spec in wanted.items():
            current = have.get(prefix, [])
            if any(r.protocol == PROTO and spec.matches(r) for r in current):
                continue
            with self.guard(f"route {prefix}{_where(ns)}"):
                ns.ipr.route("replace", **spec.request(prefix))
                (self.result.changed if current else self.result.created).append(f"route {prefix}{_where(ns)}")
        for prefix, routes in have.items():
            if prefix in wanted:
                continue
            for r in routes:
                if r.protocol != PROTO:
                    continue
                with self.guard(f"remove route {prefix}{_where(ns)}"):
                    ns.ipr.route(
                        "del", dst=prefix, table=RT_TABLE_MAIN, proto=PROTO, type=r.type, priority=r.priority,
                        family=r.family,
                    )
                    self.result.removed.append(f"route {prefix}{_where(ns)}")

    # -- segments

    def _bridge(self, sw: Namespace, b: SegmentBridge) -> None:
        br, new = self._ensure_link(sw, b.bridge, "bridge", {})
        br = self._ensure_link_attrs(sw, br, b.bridge, up=True, alias=OWNER_ALIAS, created=new)
        if self.loopback is None:
            raise RuntimeError("switch has no loopback: cannot terminate VXLAN")
        local = self.loopback

        def fits(link: Link) -> bool:
            return (
                link.info_u32(netlink.IFLA_VXLAN_ID) == b.vni
                and link.info_be16(netlink.IFLA_VXLAN_PORT) == VXLAN_PORT
                and link.info_ip(netlink.IFLA_VXLAN_LOCAL) == local
            )

        vx, new = self._ensure_link(
            sw, b.vxlan, "vxlan",
            {"vxlan_id": b.vni, "vxlan_local": local, "vxlan_port": VXLAN_PORT, "vxlan_learning": 0,
             "mtu": OVERLAY_MTU, "master": br.index},
            fits,
        )  # fmt: skip
        if vx.info_u8(netlink.IFLA_VXLAN_LEARNING):
            sw.ipr.link("set", index=vx.index, kind="vxlan", vxlan_learning=0)
            self.result.changed.append(f"link {b.vxlan}: nolearning")
        vx = self._ensure_link_attrs(
            sw, vx, b.vxlan, up=True, mtu=OVERLAY_MTU, master=br.index, alias=OWNER_ALIAS, created=new
        )
        # Remote MACs are programmed, never learned: a learned entry could point at a stale VTEP.
        if vx.slave_u8(netlink.IFLA_BRPORT_LEARNING) != 0:
            sw.ipr.brport("set", index=vx.index, learning=0)
            if not new:
                self.result.changed.append(f"link {b.vxlan}: bridge port learning off")

    # -- VLAN attachments

    def _veth_pair(
        self, ns: Namespace, name: str, peer_ns: Namespace, peer_name: str, *, peer_owned: bool = False
    ) -> tuple[Link, Link, bool]:
        """A veth `name` (in ns) whose other end is `peer_name` (in peer_ns); recreated if paired wrongly.

        `peer_owned`: the peer's namespace is podswitch's (a slice), so its devices are ours."""
        same = ns is peer_ns
        a, b = ns.link(name), peer_ns.link(peer_name)

        def paired(a: Link | None, b: Link | None) -> bool:
            if a is None or b is None or a.kind != "veth" or b.kind != "veth":
                return False
            if a.link != b.index or b.link != a.index:
                return False
            # In one namespace the ends show no netns id; across namespaces both do.
            return (a.link_netnsid is None) == same and (b.link_netnsid is None) == same

        if paired(a, b):
            assert a is not None and b is not None
            return a, b, False
        for link, space, ours in ((a, ns, False), (b, peer_ns, peer_owned)):
            if link is None:
                continue
            if not (ours or owned(link)):
                raise RuntimeError(f"{link.name}{_where(space)} exists, is not a veth to "
                                   f"{peer_name if link is a else name} and is not podswitch's: left alone")
            if space.link(link.name) is not None:
                self._delete_link(space, link, "veth peer mismatch")
        peer: dict[str, Any] = {"ifname": peer_name}
        if not same:
            peer["net_ns_fd"] = peer_ns.name if peer_ns.name is not None else "/proc/self/ns/net"
        ns.ipr.link("add", ifname=name, kind="veth", peer=peer)
        self.result.created.append(f"veth {name}{_where(ns)} <-> {peer_name}{_where(peer_ns)}")
        a, b = ns.refresh_link(name), peer_ns.refresh_link(peer_name)
        if a is None or b is None:
            raise LookupError(f"veth {name}/{peer_name}: created but not found")
        return a, b, True

    def _attachments(self, sw: Namespace) -> None:
        from . import vlan_shim

        trunks: dict[str, dict[int, int]] = defaultdict(dict)
        for a in self.desired.attachments:
            what = f"attachment {a.port} vlan {a.vlan}"
            # If this attachment fails half-way, its VLAN stays on the trunk map as long as its shim exists:
            # an error elsewhere must not cut a VLAN that may still be forwarding.
            existing = sw.link(a.shim)
            if existing is not None and existing.kind == "veth" and owned(existing):
                trunks[a.port][a.vlan] = existing.index
            with self.guard(what):
                b = self.bridges.get(a.vni)
                if b is None:
                    raise LookupError(f"no segment bridge for VNI {a.vni} in the desired state")
                br = sw.link(b.bridge)
                if br is None:
                    raise LookupError(f"bridge {b.bridge} missing")
                port = sw.link(a.port)
                if port is None:
                    raise LookupError(f"port {a.port}: no such device (not cabled?)")
                port = self._ensure_link_attrs(sw, port, a.port, up=True)
                subif, shim, new = self._veth_pair(sw, a.subif, sw, a.shim)
                self._ensure_link_attrs(sw, subif, a.subif, master=br.index, alias=OWNER_ALIAS, created=new)
                shim = self._ensure_link_attrs(sw, shim, a.shim, alias=OWNER_ALIAS, created=new)
                if vlan_shim.ensure_push(sw.ipr, shim.index, a.vlan, port.index) and not new:
                    self.result.changed.append(f"tc push {a.shim} vlan {a.vlan} -> {a.port}")
                trunks[a.port][a.vlan] = shim.index
        links = sw.links()
        for port_name, vlans in trunks.items():
            with self.guard(f"trunk {port_name}"):
                port = links.get(port_name)
                if port is not None and vlan_shim.ensure_trunk(sw.ipr, port.index, vlans):
                    self.result.changed.append(f"tc pop {port_name} vlans {sorted(vlans)}")
        wanted_ports = {a.port for a in self.desired.attachments}
        with self.guard("stale trunks"):
            # A port that carried attachments and has none now: drop our pop program. Only ports with a
            # clsact qdisc can have one, which spares a tc dump per port.
            by_index = {link.index: link for link in links.values()}
            for ifindex, parent, kind in sw.rt.qdiscs():
                link = by_index.get(ifindex)
                if kind != "clsact" or parent != CLSACT_PARENT or link is None:
                    continue
                if link.name in trunks or link.name in wanted_ports or owned(link):
                    continue
                state = vlan_shim.read(sw.ipr, ifindex)
                if state is not None and state.kind == "pop" and vlan_shim.remove(sw.ipr, ifindex):
                    self.result.removed.append(f"tc pop {link.name}")

    # -- router slices

    def _slices(self, sw: Namespace) -> None:
        d = self.desired
        spaces: dict[str, Namespace] = {}
        marker = slice_ns_alias(self.rec.netns)
        for s in d.slices:
            name = slice_ns_name(self.rec.netns, s.name)
            with self.guard(f"slice {s.name} ({name})"):
                if not netns.exists(name):
                    netns.create(name)
                    self.extra_writes += 1
                    self.result.created.append(f"netns {name}")
                h = self.ns(name)
                wanted = dict(SLICE_SYSCTLS)
                if _has_v6(s):
                    wanted["net/ipv6/conf/all/forwarding"] = "1"
                self._apply_sysctls(h, wanted)
                self._ensure_link_attrs(h, h.link("lo"), "lo", up=True, alias=marker)
                spaces[s.name] = h
        # Devices and addresses per slice namespace: a slice link puts one end in each of two slices.
        inside: dict[str, set[str]] = defaultdict(lambda: {"lo"})
        for s in d.slices:
            inside[s.name].update(i.ifname for i in s.interfaces)
            for lk in s.links:
                inside[s.name].add(lk.ifname)
                inside[lk.peer_slice].add(lk.peer_ifname)
        addrs: dict[str, dict[str, list[str]]] = defaultdict(dict)
        for s in d.slices:
            h = spaces.get(s.name)
            if h is None:
                continue
            for i in s.interfaces:
                with self.guard(f"slice {s.name} interface {i.ifname}"):
                    b = self.bridge_by_name.get(i.bridge)
                    br = sw.link(i.bridge)
                    if b is None or br is None:
                        raise LookupError(f"bridge {i.bridge} is not a desired/existing segment bridge")
                    outer, inner, new = self._veth_pair(sw, i.peer, h, i.ifname, peer_owned=True)
                    self._ensure_link_attrs(sw, outer, i.peer, master=br.index, alias=OWNER_ALIAS, created=new)
                    self._ensure_link_attrs(h, inner, i.ifname, address=i.mac, alias=OWNER_ALIAS, created=new)
                addrs[s.name][i.ifname] = list(i.addresses)
            for lk in s.links:
                with self.guard(f"slice {s.name} link {lk.ifname} -> {lk.peer_slice}"):
                    other = spaces.get(lk.peer_slice)
                    if other is None:
                        raise LookupError(f"peer slice {lk.peer_slice} is not desired or could not be made")
                    here, there, new = self._veth_pair(h, lk.ifname, other, lk.peer_ifname, peer_owned=True)
                    self._ensure_link_attrs(h, here, lk.ifname, alias=OWNER_ALIAS, created=new)
                    self._ensure_link_attrs(other, there, lk.peer_ifname, alias=OWNER_ALIAS, created=new)
                addrs[s.name][lk.ifname] = [lk.address]
                addrs[lk.peer_slice].setdefault(lk.peer_ifname, []).append(lk.peer_address)
        for s in d.slices:
            h = spaces.get(s.name)
            if h is None:
                continue
            with self.guard(f"slice {s.name} stale links"):
                for link in list(h.links().values()):
                    if owned(link) and link.name not in inside[s.name] and h.link(link.name) is not None:
                        self._delete_link(h, link, "no longer desired")
            with self.guard(f"slice {s.name} addresses"):
                self._sync_addresses(h, addrs.get(s.name, {}))
            with self.guard(f"slice {s.name} neighbours"):
                self._sync_neighbours(h, s)
            with self.guard(f"slice {s.name} routes"):
                self._sync_slice_routes(h, s)
            with self.guard(f"slice {s.name} nftables"):
                from . import nft

                if nft.ensure_table(h.name, s.nftables):
                    self.extra_writes += 1
                    self.result.changed.append(f"nftables{_where(h)}")

    def _sync_neighbours(self, h: Namespace, s: Slice) -> None:
        links = h.links()
        want: dict[tuple[int, str], tuple[str, str]] = {}
        for n in s.neighbours:
            link = links.get(n.dev)
            if link is None:
                self.error(f"neighbour {n.ip} on {n.dev}{_where(h)}", "no such device")
                continue
            want[(link.index, _ip(n.ip))] = (n.mac.lower(), n.dev)
        ops: list[Op] = []
        have: set[tuple[int, str]] = set()
        present: set[tuple[int, str]] = set()
        for e in h.rt.neighbours(AF_UNSPEC):
            if e.family not in (AF_INET, AF_INET6) or e.dst is None:
                continue
            key = (e.ifindex, e.dst)  # the kernel's text is canonical already
            wanted = want.get(key)
            if wanted is not None:
                present.add(key)
                if e.state & NUD_PERMANENT and e.lladdr == wanted[0]:
                    have.add(key)
            elif e.state & NUD_PERMANENT and e.protocol == PROTO:
                ops.append(neigh_op("del", family=e.family, ifindex=e.ifindex, dst=e.dst,
                                    what=f"remove neighbour {e.dst}{_where(h)}"))
                self.result.removed.append(f"neighbour {e.dst}{_where(h)}")
        for key, (mac, dev) in want.items():
            if key in have:
                continue
            ip = key[1]
            what = f"neighbour {ip} {mac} {dev}{_where(h)}"
            ops.append(neigh_op("replace", family=AF_INET6 if ":" in ip else AF_INET, ifindex=key[0], dst=ip,
                                lladdr=mac, state=NUD_PERMANENT, protocol=PROTO, what=what))
            (self.result.changed if key in present else self.result.created).append(what)
        self._execute(h, ops)

    def _sync_slice_routes(self, h: Namespace, s: Slice) -> None:
        links = h.links()
        wanted: dict[str, _RouteSpec] = {}
        for r in s.routes:
            try:
                prefix = _net(r.prefix)
                if r.kind == "unreachable":
                    wanted[prefix] = _RouteSpec(RTN_UNREACHABLE, ())
                    continue
                if r.kind != "unicast":
                    raise ValueError(f"unknown route kind {r.kind!r}")
                oif = 0
                if r.dev is not None:
                    if r.dev not in links:
                        raise LookupError(f"device {r.dev} missing")
                    oif = links[r.dev].index
                hops = tuple((_ip(v), oif) for v in r.via) if r.via else ((None, oif),)
                if not r.via and not oif:
                    raise ValueError("a route needs `via` or `dev`")
                wanted[prefix] = _RouteSpec(RTN_UNICAST, hops, match_oif=bool(oif))
            except Exception as e:
                self.error(f"route {r.prefix}{_where(h)}", e)
        self._sync_routes(h, wanted)

    def _remove_stale_slices(self) -> None:
        prefix = slice_ns_name(self.rec.netns, "")
        wanted = {slice_ns_name(self.rec.netns, s.name) for s in self.desired.slices}
        marker = slice_ns_alias(self.rec.netns)
        for name in netns.list_names():
            if not name.startswith(prefix) or name in wanted or name == self.rec.netns:
                continue
            with self.guard(f"remove slice namespace {name}"):
                # The prefix alone could match another switch's namespaces: only the marker on lo says ours.
                with netlink.RtSocket(name) as rt:
                    lo = rt.get_link("lo")
                if lo is None or lo.alias != marker:
                    continue
                self.rec.drop(name)
                self._base.pop(name, None)
                netns.remove(name)
                self.extra_writes += 1
                self.result.removed.append(f"netns {name}")

    # -- FDB

    def _sync_fdb(self, sw: Namespace) -> None:
        d = self.desired
        links = sw.links()
        own = self.loopback
        # (bridge ifindex, mac) -> (port ifindex, port name); a local pin beats a remote entry.
        master: dict[tuple[int, str], tuple[int, str]] = {}
        unicast: dict[tuple[int, str], str] = {}  # (vxlan ifindex, mac) -> VTEP
        flood: dict[int, set[str]] = {}
        owned_bridges: set[int] = set()
        vx_names: dict[int, str] = {}
        for b in d.bridges:
            br, vx = links.get(b.bridge), links.get(b.vxlan)
            if br is None or vx is None or not owned(br) or not owned(vx):
                continue  # its own error was reported when making it
            owned_bridges.add(br.index)
            vx_names[vx.index] = b.vxlan
            flood[vx.index] = {ip for ip in map(_ip, b.flood) if ip != own}
            for rm in b.remote_macs:
                vtep = _ip(rm.vtep)
                if vtep == own:
                    continue  # ours: pinned by a LocalMac
                mac = rm.mac.lower()
                master[(br.index, mac)] = (vx.index, b.vxlan)
                unicast[(vx.index, mac)] = vtep
        for lm in d.local_macs:
            br, dev = links.get(lm.bridge), links.get(lm.dev)
            if br is None or dev is None:
                self.error(f"local mac {lm.mac} on {lm.dev}", f"{lm.bridge if br is None else lm.dev} missing")
                continue
            mac = lm.mac.lower()
            prev = master.get((br.index, mac))
            if prev is not None and prev[0] in vx_names:
                # Behind one of our ports *and* announced from another VTEP (an interface group spanning
                # two leaves): deliver locally, and keep no VXLAN entry for it.
                unicast.pop((prev[0], mac), None)
            master[(br.index, mac)] = (dev.index, lm.dev)
            owned_bridges.add(br.index)

        have_master: dict[tuple[int, str], netlink.Neigh] = {}
        have_self: dict[tuple[int, str], list[netlink.Neigh]] = defaultdict(list)
        for e in sw.rt.neighbours(AF_BRIDGE):
            if e.lladdr is None or e.vlan:
                continue
            if e.flags & NTF_SELF:
                if e.ifindex in vx_names:
                    have_self[(e.ifindex, e.lladdr)].append(e)
            elif e.master in owned_bridges:
                have_master[(e.master, e.lladdr)] = e

        # Order: make before break. VXLAN destinations before the bridge entries that point at the VXLAN
        # device (else a new MAC is briefly flooded), removals of bridge entries before their destinations.
        ops: list[Op] = []
        res = self.result
        for (vx, mac), vtep in unicast.items():
            entries = have_self.get((vx, mac))
            if entries and len(entries) == 1 and entries[0].dst == vtep and entries[0].state & NUD_PERMANENT:
                continue
            what = f"fdb {mac} {vx_names[vx]} dst {vtep}"
            dsts = {e.dst for e in entries or ()}
            for other in sorted(x for x in dsts if x is not None and x != vtep) if len(dsts) > 1 else ():
                ops.append(neigh_op("del", family=AF_BRIDGE, ifindex=vx, flags=NTF_SELF, lladdr=mac, dst=other,
                                    what=f"remove {mac} dst {other}"))
            # NLM_F_REPLACE rewrites the entry's (first) destination in place: no moment without an entry.
            ops.append(neigh_op("replace", family=AF_BRIDGE, ifindex=vx, state=NUD_PERMANENT, flags=NTF_SELF,
                                lladdr=mac, dst=vtep, what=what))
            (res.changed if entries else res.created).append(what)
        for vx, vteps in flood.items():
            have = {e.dst for e in have_self.get((vx, ZERO_MAC), []) if e.dst is not None}
            for vtep in sorted(vteps - have):
                what = f"flood {vx_names[vx]} -> {vtep}"
                ops.append(neigh_op("append", family=AF_BRIDGE, ifindex=vx, state=NUD_PERMANENT, flags=NTF_SELF,
                                    lladdr=ZERO_MAC, dst=vtep, what=what))
                res.created.append(what)
        for (br_index, mac), (dev, dev_name) in master.items():
            e = have_master.get((br_index, mac))
            if e is not None and e.ifindex == dev and e.state == NUD_NOARP:
                continue
            what = f"fdb {mac} {dev_name} master static"
            if e is not None and e.state == NUD_PERMANENT:
                self.error(what, "is the address of a bridge port (a local entry): not pinned")
                continue
            ops.append(neigh_op("replace", family=AF_BRIDGE, ifindex=dev, state=NUD_NOARP, flags=NTF_MASTER,
                                lladdr=mac, what=what))
            (res.changed if e is not None else res.created).append(what)
        for key, e in have_master.items():
            if key not in master and e.state == NUD_NOARP:
                what = f"remove fdb {key[1]} master"
                ops.append(neigh_op("del", family=AF_BRIDGE, ifindex=e.ifindex, flags=NTF_MASTER, lladdr=key[1],
                                    what=what))
                res.removed.append(what)
        for (vx, mac), entries in have_self.items():
            if mac == ZERO_MAC or (vx, mac) in unicast:
                continue
            if any(e.state & (NUD_PERMANENT | NUD_NOARP) for e in entries):
                what = f"remove fdb {mac} {vx_names[vx]}"
                ops.append(neigh_op("del", family=AF_BRIDGE, ifindex=vx, flags=NTF_SELF, lladdr=mac, what=what))
                res.removed.append(what)
        for vx, vteps in flood.items():
            have = {e.dst for e in have_self.get((vx, ZERO_MAC), []) if e.dst is not None}
            for vtep in sorted(have - vteps):
                what = f"remove flood {vx_names[vx]} -> {vtep}"
                ops.append(neigh_op("del", family=AF_BRIDGE, ifindex=vx, flags=NTF_SELF, lladdr=ZERO_MAC,
                                    dst=vtep, what=what))
                res.removed.append(what)
        self._execute(sw, ops)

    def _execute(self, ns: Namespace, ops: list[Op]) -> None:
        if not ops:
            return
        for f in ns.rt.execute(ops):
            detail = f": {f.message}" if f.message else ""
            self.error(f.op.what, f"{os.strerror(f.errno)} (errno {f.errno}){detail}")


@dataclass(frozen=True)
class _RouteSpec:
    type: int
    nexthops: tuple[tuple[str | None, int], ...]  # (gateway, oif); oif 0 = let the kernel choose
    match_oif: bool = True

    def matches(self, r: netlink.Route) -> bool:
        if r.type != self.type:
            return False
        if self.type != RTN_UNICAST:
            return True
        have = r.nexthops()
        if self.match_oif:
            return have == frozenset(self.nexthops)
        return {gw for gw, _ in have} == {gw for gw, _ in self.nexthops}

    def request(self, prefix: str) -> dict[str, Any]:
        family = AF_INET6 if ":" in prefix else AF_INET
        req: dict[str, Any] = {"dst": prefix, "table": RT_TABLE_MAIN, "proto": PROTO, "family": family}
        if self.type == RTN_UNREACHABLE:
            req["type"] = "unreachable"
            return req
        if len(self.nexthops) > 1:
            req["multipath"] = [
                {"gateway": gw, **({"oif": oif} if oif else {})} for gw, oif in self.nexthops
            ]
            return req
        gw, oif = self.nexthops[0]
        if gw is not None:
            req["gateway"] = gw
        else:
            req["scope"] = 253  # link: on-link route through a device
        if oif:
            req["oif"] = oif
        return req


def _has_v6(s: Slice) -> bool:
    cidrs = [a for i in s.interfaces for a in i.addresses] + [r.prefix for r in s.routes]
    return any(":" in c for c in cidrs)


def _where(ns: Namespace) -> str:
    return f"@{ns.name}" if ns.name is not None else ""
