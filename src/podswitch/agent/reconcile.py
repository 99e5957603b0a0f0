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

from ..fabric.state import OVERLAY_MTU, VXLAN_PORT, SegmentBridge, Slice, SwitchState, VlanAttachment
from . import netlink, netns, vlan_shim
from .kernel import (
    OWNER_ALIAS,
    PROTO,
    DefaultOpener,
    Namespace,
    Opener,
    Write,
    addr_write,
    bridge_add,
    brport_learning,
    describe_error,
    link_del,
    link_set,
    netns_fds,
    oper_state,
    owned,
    route_write,
    slice_ns_alias,
    slice_ns_name,
    veth_add,
    vxlan_add,
    vxlan_learning,
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
    RT_SCOPE_NOWHERE,
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
CLSACT_PARENT = vlan_shim.CLSACT_PARENT

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
    # A gateway address that moves within its subnet is added (as a secondary) before the old primary is
    # removed, so the segment never goes without a gateway; without promotion the kernel would delete the
    # new secondary together with the old primary.
    "net/ipv4/conf/all/promote_secondaries": "1",
    "net/ipv4/conf/default/promote_secondaries": "1",
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
    """Reconciles one switch namespace; keeps handles on it and its slice namespaces between runs.

    `batch` (default): writes go to the kernel in batches (many requests per send()) and tc state is read
    with batched gets; False: one pyroute2 request per write and `vlan_shim.ensure_*` per device, the
    pre-batching path (a fallback, and the reference the tests compare the batched path with)."""

    def __init__(self, netns_name: str | None, *, opener: Opener | None = None, batch: bool = True) -> None:
        self.netns = netns_name
        self.opener: Opener = opener if opener is not None else DefaultOpener()
        self.batch = batch
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
            h = Namespace(name, self.opener, batch=self.batch)
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


def reconcile(desired: SwitchState, netns: str | None, *, opener: Opener | None = None, batch: bool = True) -> Result:
    """One-shot reconcile of the switch in namespace `netns` (None: the current namespace)."""
    with Reconciler(netns, opener=opener, batch=batch) as r:
        return r.reconcile(desired)


# ---- the work of one run ----------------------------------------------------------------------------


def _iface(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(cidr)


def _net(prefix: str) -> str:
    """Canonical text of a prefix, as the kernel's dumps print it (see `_ip`)."""
    net = ipaddress.ip_network(prefix, strict=False)
    return f"{_ip(str(net.network_address))}/{net.prefixlen}"


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
        with self.guard("segments"):  # per-segment errors are reported inside; this catches a failed read
            self._bridges(sw)
        with self.guard("attachments"):
            self._attachments(sw)
        self._slices(sw)
        with self.guard("fdb"):
            self._sync_fdb(sw)
        with self.guard("stale slices"):
            self._remove_stale_slices()
        # Every link write dropped the cache, so this is either a fresh read or the one this run began with.
        links = sw.links()
        for port in d.fabric_ports:
            self.result.links[port.ifname] = oper_state(links.get(port.ifname))
        for a in d.attachments:
            self.result.links[a.port] = oper_state(links.get(a.port))

    # -- writes

    def _submit(self, ns: Namespace, writes: list[Write], *, report: bool = True) -> set[Any]:
        """Send `writes` (batched unless the reconciler runs unbatched); note the successful ones' records
        in the result, and each failure as an error of its own (unless `report` is False: the caller
        retries another way). Returns the keys of the failed writes."""
        if not writes:
            return set()
        failures = ns.submit(writes)
        if any(w.op.type in (netlink.RTM_NEWLINK, netlink.RTM_DELLINK) for w in writes):
            ns.forget_links()  # the next look at a link reads them all again, with these changes
        bad = {id(f.write) for f in failures}
        for f in failures:
            if report:
                self.error(f.write.what, f.describe())
        for w in writes:
            if w.record is not None and id(w) not in bad:
                getattr(self.result, w.record[0]).append(w.record[1])
        return {f.write.key for f in failures}

    # -- generic link handling

    def _attrs_write(
        self,
        ns: Namespace,
        link: Link,
        name: str,
        *,
        up: bool = True,
        mtu: int | None = None,
        master: int | None = None,
        address: str | None = None,
        alias: str | None = None,
        created: bool = False,
        label: str | None = None,
        key: Any = None,
    ) -> Write | None:
        """The one request (a `link set`) that sets what differs, or None; `alias` marks ownership."""
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
            return None
        text = ", ".join(sorted(changes))
        record = None if created else ("changed", f"link {name}{_where(ns)}: {text}")
        return link_set(
            link.index, alias=changes.get("ifalias"), mtu=changes.get("mtu"), master=changes.get("master"),
            address=changes.get("address"), up="state" in changes,
            what=f"{label or 'link ' + name + _where(ns)}: set {text}", key=key, record=record,
        )  # fmt: skip

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
        """Set what differs on one link, right now (for the few single devices: lo, fabric ports)."""
        if link is None:
            raise LookupError(f"{name}: no such device")
        w = self._attrs_write(ns, link, name, up=up, mtu=mtu, master=master, address=address, alias=alias,
                              created=created)  # fmt: skip
        if w is None:
            return link
        failures = ns.submit([w])
        if failures:
            raise RuntimeError(f"link {name}: {failures[0].describe()}")
        if w.record is not None:
            self.result.changed.append(w.record[1])
        fresh = ns.refresh_link(name)
        if fresh is None:
            raise LookupError(f"{name}: vanished")
        return fresh

    def _delete_links(self, ns: Namespace, links: list[Link], why: str) -> None:
        """Delete links in one batch. A veth takes its other end with it: a pair in one namespace is one
        request, and an end that is gone already counts as deleted."""
        chosen: dict[int, Link] = {}
        for link in links:
            if link.kind == "veth" and link.link_netnsid is None and link.link in chosen:
                continue
            chosen[link.index] = link
        writes = [
            link_del(link.index, what=f"remove {link.name}{_where(ns)}",
                     record=("removed", f"link {link.name}{_where(ns)} ({why})"))
            for link in chosen.values()
        ]  # fmt: skip
        self._submit(ns, writes)
        if writes:
            ns.forget_links()

    def _ensure_links(self, ns: Namespace, items: list[_LinkSpec]) -> dict[Any, tuple[Link, bool]]:
        """Devices of a kind, in three batches: remove ours that are of the wrong kind or do not `fit`,
        create the missing ones, read the links back. A device of the wrong kind that is not ours is an
        error and is left alone. Returns {key: (link, created)} of the devices that are there now."""
        dels: list[Write] = []
        creates: list[Write] = []
        plans: dict[Any, tuple[str, str, bool]] = {}
        for it in items:
            try:
                link = ns.link(it.name)
                if link is not None and (link.kind != it.kind or (it.fits is not None and not it.fits(link))):
                    if not owned(link):
                        what = "another kind" if link.kind != it.kind else "other immutable settings"
                        raise RuntimeError(
                            f"{it.name} exists with {what} ({link.kind}) and is not podswitch's: left alone"
                        )
                    why = f"link {it.name}{_where(ns)} (wrong kind or settings)"
                    dels.append(link_del(link.index, what=f"{it.label}: remove {it.name}", key=it.key,
                                         record=("removed", why)))  # fmt: skip
                    link = None
                if link is None:
                    creates.append(it.make(what=f"{it.label}: create {it.name}", key=it.key,
                                           record=("created", f"link {it.name}{_where(ns)}")))  # fmt: skip
                plans[it.key] = (it.label, it.name, link is None)
            except Exception as e:
                self.error(it.label, e)
        failed = self._submit(ns, dels)
        if dels:
            ns.forget_links()
        creates = [w for w in creates if w.key not in failed]
        failed |= self._submit(ns, creates)
        if creates:
            ns.forget_links()
        out: dict[Any, tuple[Link, bool]] = {}
        for key, (label, name, new) in plans.items():
            if key in failed:
                continue
            link = ns.link(name)
            if link is None:
                self.error(label, f"{name}: created but not found")
                continue
            out[key] = (link, new)
        return out

    def _veths(self, specs: list[_VethSpec]) -> list[_VethSpec]:
        """Veth pairs `name` (in ns) <-> `peer_name` (in peer_ns) with their attributes, in batches: remove
        wrongly paired ends that are ours, create the missing pairs, read the links back, set what differs.
        Returns the specs whose pair is in place (with `link`/`peer` filled in); the others have an error.

        An end that exists, is not paired right and is not ours is an error (left alone); `peer_owned`: the
        peer's namespace is podswitch's (a slice), so whatever is in it is ours."""
        dels: dict[int, tuple[Namespace, dict[int, Link]]] = {}
        creates: dict[int, tuple[Namespace, list[Write]]] = {}
        planned: list[_VethSpec] = []
        for v in specs:
            try:
                same = v.ns is v.peer_ns
                a, b = v.ns.link(v.name), v.peer_ns.link(v.peer_name)
                if _paired(a, b, same):
                    planned.append(v)
                    continue
                for link, space, ours in ((a, v.ns, False), (b, v.peer_ns, v.peer_owned)):
                    if link is None:
                        continue
                    if not (ours or owned(link)):
                        other = v.peer_name if link is a else v.name
                        raise RuntimeError(f"{link.name}{_where(space)} exists, is not a veth to {other} and is not "
                                           "podswitch's: left alone")  # fmt: skip
                for link, space in ((a, v.ns), (b, v.peer_ns)):
                    if link is not None:
                        dels.setdefault(id(space), (space, {}))[1][link.index] = link
                v.new = True
                planned.append(v)
            except Exception as e:
                self.error(v.label, e)
        for space, links in dels.values():
            self._delete_links(space, list(links.values()), "veth peer mismatch")
        # Creates, grouped by the namespace they are sent in; the peer namespace goes by fd.
        failed: set[int] = set()
        new = [v for v in planned if v.new]
        with netns_fds([v.peer_ns.name for v in new if v.ns is not v.peer_ns]) as fds:
            for v in new:
                fd = fds[v.peer_ns.name] if v.ns is not v.peer_ns else None
                w = veth_add(v.name, v.peer_name, peer_ns_fd=fd, peer_address=v.peer_attrs.get("address"),
                             master=v.attrs.get("master"), up=True, what=f"{v.label}: create veth {v.name}",
                             key=id(v), record=("created", f"veth {v.name}{_where(v.ns)} <-> "
                                                           f"{v.peer_name}{_where(v.peer_ns)}"))  # fmt: skip
                creates.setdefault(id(v.ns), (v.ns, []))[1].append(w)
            for space, writes in creates.values():
                failed |= self._submit(space, writes)
        for v in new:
            v.ns.forget_links()
            v.peer_ns.forget_links()
        # Attributes: what the create could not set (alias, the peer's state) and whatever drifted.
        sets: dict[int, tuple[Namespace, list[Write]]] = {}
        ready: list[_VethSpec] = []
        for v in planned:
            if id(v) in failed:
                continue
            v.link, v.peer = v.ns.link(v.name), v.peer_ns.link(v.peer_name)
            if v.link is None or v.peer is None or (v.new and not _paired(v.link, v.peer, v.ns is v.peer_ns)):
                self.error(v.label, f"veth {v.name}/{v.peer_name}: created but not found")
                continue
            for space, link, name, attrs in ((v.ns, v.link, v.name, v.attrs), (v.peer_ns, v.peer, v.peer_name,
                                                                             v.peer_attrs)):  # fmt: skip
                w = self._attrs_write(space, link, name, created=v.new, label=v.label, key=id(v), **attrs)
                if w is not None:
                    sets.setdefault(id(space), (space, []))[1].append(w)
            ready.append(v)
        for space, writes in sets.values():
            failed |= self._submit(space, writes)
        return [v for v in ready if id(v) not in failed]

    def _remove_stale_links(self, sw: Namespace) -> None:
        d = self.desired
        wanted = {b.bridge for b in d.bridges} | {b.vxlan for b in d.bridges}
        wanted |= {a.subif for a in d.attachments} | {a.shim for a in d.attachments}
        wanted |= {i.peer for s in d.slices for i in s.interfaces}
        stale = [link for link in sw.links().values() if owned(link) and link.name not in wanted]
        self._delete_links(sw, stale, "no longer desired")

    # -- sysctls

    def _sysctls(self, sw: Namespace) -> None:
        wanted = dict(SWITCH_SYSCTLS)
        if os.path.exists("/proc/sys/net/ipv6"):
            # The switch namespace carries only layer 2 and the IPv4 underlay. Left on, IPv6 gives each of
            # thousands of attachment veths a link-local address, routes and multicast state: measured 3x
            # the build time and a third of every reconcile at 4,800 attachments.
            wanted["net/ipv6/conf/default/disable_ipv6"] = "1"
            wanted["net/ipv6/conf/all/disable_ipv6"] = "1"
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
        writes: list[Write] = []
        for index, addrs in want.items():
            for (ip, plen), ifname in addrs.items():
                if (ip, plen) in have[index]:
                    continue
                writes.append(addr_write(
                    "replace", index=index, address=ip, prefixlen=plen, proto=PROTO,
                    what=f"address {ip}/{plen} on {ifname}{_where(ns)}",
                    record=("created", f"address {ip}/{plen} {ifname}{_where(ns)}"),
                ))  # fmt: skip
        for index, addrs in have.items():
            for (ip, plen), a in addrs.items():
                if a.proto == PROTO and (ip, plen) not in want.get(index, {}):
                    writes.append(addr_write(
                        "del", index=index, address=ip, prefixlen=plen, what=f"remove address {ip}/{plen}{_where(ns)}",
                        record=("removed", f"address {ip}/{plen}{_where(ns)}"),
                    ))  # fmt: skip
        self._submit(ns, writes)

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
        # Only ours (to remove the stale ones) and those at a wanted prefix length (to compare) are read.
        lens = {(AF_INET6 if ":" in prefix else AF_INET, int(prefix.rsplit("/", 1)[1])) for prefix in wanted}

        def keep(family: int, dst_len: int, proto: int) -> bool:
            return proto == PROTO or (family, dst_len) in lens

        for r in ns.rt.routes(AF_UNSPEC, table=RT_TABLE_MAIN, keep=keep):
            if r.table == RT_TABLE_MAIN and r.family in (AF_INET, AF_INET6):
                have[r.dst].append(r)  # the kernel's text is canonical already, as `_net` makes ours
        writes: list[Write] = []
        for prefix, spec in wanted.items():
            current = have.get(prefix, [])
            if any(r.protocol == PROTO and spec.matches(r) for r in current):
                continue
            what = f"route {prefix}{_where(ns)}"
            try:
                writes.append(route_write("replace", req=spec.request(prefix), what=what,
                                          record=("changed" if current else "created", what)))  # fmt: skip
            except ValueError as e:
                self.error(what, e)
        for prefix, routes in have.items():
            if prefix in wanted:
                continue
            for r in routes:
                if r.protocol != PROTO:
                    continue
                # Scope "nowhere" matches a route of any scope (as `ip route del` does); without it an on-link
                # route (scope link) would not match the delete.
                req = {"dst": prefix, "table": RT_TABLE_MAIN, "proto": PROTO, "type": r.type,
                       "priority": r.priority, "family": r.family, "scope": RT_SCOPE_NOWHERE}  # fmt: skip
                writes.append(route_write("del", req=req, what=f"remove route {prefix}{_where(ns)}",
                                          record=("removed", f"route {prefix}{_where(ns)}")))  # fmt: skip
        self._submit(ns, writes)

    # -- segments

    def _bridges(self, sw: Namespace) -> None:
        """Per segment a bridge and a VXLAN device in it; each step batched over all segments."""
        d = self.desired
        if not d.bridges:
            return
        label = {b.vni: f"segment {b.vni} ({b.bridge}/{b.vxlan})" for b in d.bridges}
        brs = self._ensure_links(sw, [
            _LinkSpec(b.vni, label[b.vni], b.bridge, "bridge", None, functools.partial(bridge_add, b.bridge, up=True))
            for b in d.bridges
        ])  # fmt: skip
        writes = [
            w for vni, (br, new) in brs.items()
            if (w := self._attrs_write(sw, br, self.bridges[vni].bridge, up=True, alias=OWNER_ALIAS, created=new,
                                       label=label[vni], key=vni)) is not None
        ]  # fmt: skip
        failed = self._submit(sw, writes)
        brs = {vni: v for vni, v in brs.items() if vni not in failed}
        if self.loopback is None:
            for vni in brs:
                self.error(label[vni], "switch has no loopback: cannot terminate VXLAN")
            return
        local = self.loopback

        def fits(vni: int) -> Callable[[Link], bool]:
            return lambda link: (
                link.info_u32(netlink.IFLA_VXLAN_ID) == vni
                and link.info_be16(netlink.IFLA_VXLAN_PORT) == VXLAN_PORT
                and link.info_ip(netlink.IFLA_VXLAN_LOCAL) == local
            )

        vxs = self._ensure_links(sw, [
            _LinkSpec(vni, label[vni], self.bridges[vni].vxlan, "vxlan", fits(vni), functools.partial(
                vxlan_add, self.bridges[vni].vxlan, vni=vni, local=local, port=VXLAN_PORT, learning=0,
                mtu=OVERLAY_MTU, master=br.index, up=True))
            for vni, (br, _) in brs.items()
        ])  # fmt: skip
        writes = []
        for vni, (vx, new) in vxs.items():
            name = self.bridges[vni].vxlan
            if vx.info_u8(netlink.IFLA_VXLAN_LEARNING):
                writes.append(vxlan_learning(vx.index, 0, what=f"{label[vni]}: nolearning", key=vni,
                                             record=("changed", f"link {name}: nolearning")))  # fmt: skip
            w = self._attrs_write(sw, vx, name, up=True, mtu=OVERLAY_MTU, master=brs[vni][0].index,
                                  alias=OWNER_ALIAS, created=new, label=label[vni], key=vni)  # fmt: skip
            if w is not None:
                writes.append(w)
            # Remote MACs are programmed, never learned: a learned entry could point at a stale VTEP.
            if vx.slave_u8(netlink.IFLA_BRPORT_LEARNING) != 0:
                writes.append(brport_learning(
                    vx.index, 0, what=f"{label[vni]}: bridge port learning off", key=vni,
                    record=None if new else ("changed", f"link {name}: bridge port learning off"),
                ))  # fmt: skip
        self._submit(sw, writes)

    # -- VLAN attachments

    def _attachments(self, sw: Namespace) -> None:
        d = self.desired
        trunks: dict[str, dict[int, int]] = defaultdict(dict)
        specs: list[_VethSpec] = []
        port_up: dict[str, Write] = {}
        for a in d.attachments:
            what = f"attachment {a.port} vlan {a.vlan}"
            # If this attachment fails half-way, its VLAN stays on the trunk map as long as its shim exists:
            # an error elsewhere must not cut a VLAN that may still be forwarding.
            existing = sw.link(a.shim)
            if existing is not None and existing.kind == "veth" and owned(existing):
                trunks[a.port][a.vlan] = existing.index
            b = self.bridges.get(a.vni)
            br = sw.link(b.bridge) if b is not None else None
            port = sw.link(a.port)
            if b is None:
                self.error(what, f"no segment bridge for VNI {a.vni} in the desired state")
            elif br is None:
                self.error(what, f"bridge {b.bridge} missing")
            elif port is None:
                self.error(what, f"port {a.port}: no such device (not cabled?)")
            else:
                if a.port not in port_up and (w := self._attrs_write(sw, port, a.port, up=True, key=a.port)):
                    port_up[a.port] = w
                specs.append(_VethSpec(a, what, sw, a.subif, sw, a.shim,
                                       attrs={"master": br.index, "alias": OWNER_ALIAS},
                                       peer_attrs={"alias": OWNER_ALIAS}))  # fmt: skip
        bad_ports = self._submit(sw, list(port_up.values()))
        for v in specs:
            if v.key.port in bad_ports:
                self.error(v.label, f"port {v.key.port} could not be set up")
        done = self._veths([v for v in specs if v.key.port not in bad_ports])
        links = sw.links()
        pushes: list[tuple[VlanAttachment, int, int, bool]] = []  # (attachment, shim, port, shim is new)
        for v in done:
            a = v.key
            port = links.get(a.port)
            if v.peer is None or port is None:
                self.error(v.label, f"port {a.port} vanished")
                continue
            trunks[a.port][a.vlan] = v.peer.index
            pushes.append((a, v.peer.index, port.index, v.new))
        slots = {ifindex: kind for ifindex, _, kind in sw.rt.qdiscs(CLSACT_PARENT)}
        self._push_programs(sw, pushes, slots)
        self._trunk_programs(sw, trunks, links, slots)
        wanted_ports = {a.port for a in d.attachments}
        with self.guard("stale trunks"):
            # A port that carried attachments and has none now: drop our pop program. Only ports with a
            # clsact qdisc can have one, which spares a tc dump per port.
            by_index = {link.index: link for link in links.values()}
            for ifindex, kind in slots.items():
                link = by_index.get(ifindex)
                if kind != "clsact" or link is None:
                    continue
                if link.name in trunks or link.name in wanted_ports or owned(link):
                    continue
                state = vlan_shim.read_hook(sw.rt, ifindex).state() if sw.batch else vlan_shim.read(sw.ipr, ifindex)
                if state is not None and state.kind == "pop" and vlan_shim.remove(sw.ipr, ifindex):
                    self.result.removed.append(f"tc pop {link.name}")

    def _push_programs(
        self, sw: Namespace, pushes: list[tuple[VlanAttachment, int, int, bool]], slots: dict[int, str]
    ) -> None:
        """A push program on every shim. Batched: which ones are right is asked with one batch of filter
        gets (no dump per shim); a wrong one is looked at with one fast dump; where nothing foreign is on
        the hook, the clsact qdisc and the filter are written in batches; the rest (and whatever a batch
        could not do) goes through `vlan_shim.ensure_push`, which handles every case."""
        todo: list[_Program] = []
        for a, shim, port, new in pushes:
            p = _Program(what=f"attachment {a.port} vlan {a.vlan}", ifindex=shim,
                         name=vlan_shim.expected_push_name(a.vlan, port),
                         record=None if new else ("changed", f"tc push {a.shim} vlan {a.vlan} -> {a.port}"),
                         build=functools.partial(vlan_shim.push_program, a.vlan, port), prog_name="psw_push",
                         slow=functools.partial(vlan_shim.ensure_push, sw.ipr, shim, a.vlan, port))  # fmt: skip
            todo.append(p)
        self._programs(sw, todo, slots)

    def _trunk_programs(
        self, sw: Namespace, trunks: dict[str, dict[int, int]], links: dict[str, Link], slots: dict[int, str]
    ) -> None:
        todo: list[_Program] = []
        for port_name, vlans in trunks.items():
            port = links.get(port_name)
            if port is None:
                continue
            what = f"tc pop {port_name} vlans {sorted(vlans)}"
            try:
                name = vlan_shim.expected_trunk_name(vlans)
            except ValueError as e:
                self.error(f"trunk {port_name}", e)
                continue
            vmap = dict(vlans)
            slow = functools.partial(vlan_shim.ensure_trunk, sw.ipr, port.index, vmap)
            todo.append(_Program(what=f"trunk {port_name}", ifindex=port.index, name=name,
                                 record=("changed", what), dump=True, slow=slow, prog_name="psw_pop",
                                 build=functools.partial(vlan_shim.pop_program, vmap)))  # fmt: skip
        self._programs(sw, todo, slots)

    def _programs(self, sw: Namespace, todo: list[_Program], slots: dict[int, str]) -> None:
        slow: list[_Program] = []
        fast: list[tuple[_Program, bool]] = []  # (program, the clsact qdisc is still to be added)
        if not sw.batch:
            slow = todo
        else:
            quick = {p.ifindex: p.name for p in todo if not p.dump and slots.get(p.ifindex) == "clsact"}
            right = vlan_shim.check_named(sw.rt, quick) if quick else set()
            for p in todo:
                if p.ifindex in right:
                    continue
                kind = slots.get(p.ifindex)
                if kind is None:
                    fast.append((p, True))  # no qdisc: nothing on the hook
                    continue
                if kind != "clsact":
                    slow.append(p)  # e.g. an old `ingress` qdisc in clsact's slot
                    continue
                hook = vlan_shim.read_hook(sw.rt, p.ifindex)
                if hook.right(p.name):
                    continue
                if hook.foreign:
                    slow.append(p)
                else:
                    fast.append((p, False))
        for i in range(0, len(fast), PROGRAM_BATCH):
            chunk = fast[i : i + PROGRAM_BATCH]
            fds: list[int] = []
            writes: list[Write] = []
            try:
                for p, qdisc in chunk:
                    try:
                        fd = vlan_shim.load_program(p.build(), p.prog_name)
                    except Exception as e:
                        self.error(p.what, e)
                        continue
                    fds.append(fd)
                    writes += vlan_shim.attach_writes(p.ifindex, fd, p.name, qdisc=qdisc, what=p.what, key=id(p),
                                                      record=p.record)  # fmt: skip
                failed = self._submit(sw, writes, report=False)
            finally:
                for fd in fds:
                    os.close(fd)  # a filter holds its own reference to its program
            slow += [p for p, _ in chunk if id(p) in failed]
        for p in slow:
            with self.guard(p.what):
                if p.slow() and p.record is not None:
                    getattr(self.result, p.record[0]).append(p.record[1])

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
        legs: list[_VethSpec] = []  # gateway legs: r<vni> in the segment bridge <-> g<vni> in the slice
        links: list[_VethSpec] = []  # slice <-> slice
        for s in d.slices:
            h = spaces.get(s.name)
            if h is None:
                continue
            for i in s.interfaces:
                what = f"slice {s.name} interface {i.ifname}"
                with self.guard(what):
                    b = self.bridge_by_name.get(i.bridge)
                    br = sw.link(i.bridge)
                    if b is None or br is None:
                        raise LookupError(f"bridge {i.bridge} is not a desired/existing segment bridge")
                    legs.append(_VethSpec(i, what, sw, i.peer, h, i.ifname, peer_owned=True,
                                          attrs={"master": br.index, "alias": OWNER_ALIAS},
                                          peer_attrs={"address": i.mac, "alias": OWNER_ALIAS}))  # fmt: skip
                addrs[s.name][i.ifname] = list(i.addresses)
            for lk in s.links:
                what = f"slice {s.name} link {lk.ifname} -> {lk.peer_slice}"
                with self.guard(what):
                    other = spaces.get(lk.peer_slice)
                    if other is None:
                        raise LookupError(f"peer slice {lk.peer_slice} is not desired or could not be made")
                    links.append(_VethSpec(lk, what, h, lk.ifname, other, lk.peer_ifname, peer_owned=True,
                                           attrs={"alias": OWNER_ALIAS},
                                           peer_attrs={"alias": OWNER_ALIAS}))  # fmt: skip
                addrs[s.name][lk.ifname] = [lk.address]
                addrs[lk.peer_slice].setdefault(lk.peer_ifname, []).append(lk.peer_address)
        self._veths(legs)
        self._veths(links)
        for s in d.slices:
            h = spaces.get(s.name)
            if h is None:
                continue
            with self.guard(f"slice {s.name} stale links"):
                stale = [link for link in h.links().values() if owned(link) and link.name not in inside[s.name]]
                self._delete_links(h, stale, "no longer desired")
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
                ops.append(
                    neigh_op(
                        "del",
                        family=e.family,
                        ifindex=e.ifindex,
                        dst=e.dst,
                        what=f"remove neighbour {e.dst}{_where(h)}",
                    )
                )
                self.result.removed.append(f"neighbour {e.dst}{_where(h)}")
        for key, (mac, dev) in want.items():
            if key in have:
                continue
            ip = key[1]
            what = f"neighbour {ip} {mac} {dev}{_where(h)}"
            ops.append(
                neigh_op(
                    "replace",
                    family=AF_INET6 if ":" in ip else AF_INET,
                    ifindex=key[0],
                    dst=ip,
                    lladdr=mac,
                    state=NUD_PERMANENT,
                    protocol=PROTO,
                    what=what,
                )
            )
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

        # A device's own (NTF_SELF) entries matter only on our VXLAN devices: the others are every device's
        # multicast addresses, thousands of them.
        def keep(ifindex: int, state: int, flags: int) -> bool:
            return not flags & NTF_SELF or ifindex in vx_names

        for e in sw.rt.neighbours(AF_BRIDGE, keep=keep):
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
                ops.append(
                    neigh_op(
                        "del",
                        family=AF_BRIDGE,
                        ifindex=vx,
                        flags=NTF_SELF,
                        lladdr=mac,
                        dst=other,
                        what=f"remove {mac} dst {other}",
                    )
                )
            # NLM_F_REPLACE rewrites the entry's (first) destination in place: no moment without an entry.
            ops.append(
                neigh_op(
                    "replace",
                    family=AF_BRIDGE,
                    ifindex=vx,
                    state=NUD_PERMANENT,
                    flags=NTF_SELF,
                    lladdr=mac,
                    dst=vtep,
                    what=what,
                )
            )
            (res.changed if entries else res.created).append(what)
        for vx, vteps in flood.items():
            have = {e.dst for e in have_self.get((vx, ZERO_MAC), []) if e.dst is not None}
            for vtep in sorted(vteps - have):
                what = f"flood {vx_names[vx]} -> {vtep}"
                ops.append(
                    neigh_op(
                        "append",
                        family=AF_BRIDGE,
                        ifindex=vx,
                        state=NUD_PERMANENT,
                        flags=NTF_SELF,
                        lladdr=ZERO_MAC,
                        dst=vtep,
                        what=what,
                    )
                )
                res.created.append(what)
        for (br_index, mac), (dev, dev_name) in master.items():
            e = have_master.get((br_index, mac))
            if e is not None and e.ifindex == dev and e.state == NUD_NOARP:
                continue
            what = f"fdb {mac} {dev_name} master static"
            if e is not None and e.state == NUD_PERMANENT:
                self.error(what, "is the address of a bridge port (a local entry): not pinned")
                continue
            ops.append(
                neigh_op(
                    "replace", family=AF_BRIDGE, ifindex=dev, state=NUD_NOARP, flags=NTF_MASTER, lladdr=mac, what=what
                )
            )
            (res.changed if e is not None else res.created).append(what)
        for key, e in have_master.items():
            if key not in master and e.state == NUD_NOARP:
                what = f"remove fdb {key[1]} master"
                ops.append(
                    neigh_op("del", family=AF_BRIDGE, ifindex=e.ifindex, flags=NTF_MASTER, lladdr=key[1], what=what)
                )
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
                ops.append(
                    neigh_op("del", family=AF_BRIDGE, ifindex=vx, flags=NTF_SELF, lladdr=ZERO_MAC, dst=vtep, what=what)
                )
                res.removed.append(what)
        self._execute(sw, ops)

    def _execute(self, ns: Namespace, ops: list[Op]) -> None:
        if not ops:
            return
        for f in ns.rt.execute(ops):
            detail = f": {f.message}" if f.message else ""
            self.error(f.op.what, f"{os.strerror(f.errno)} (errno {f.errno}){detail}")


PROGRAM_BATCH = 256  # BPF programs loaded (fds open) at a time for one batch of tc writes


@dataclass(eq=False, slots=True)
class _LinkSpec:
    """A device `name` of `kind` for `_ensure_links`; `make(what=, key=, record=)` gives its create request."""

    key: Any
    label: str
    name: str
    kind: str
    fits: Callable[[Link], bool] | None
    make: Callable[..., Write]


@dataclass(eq=False, slots=True)
class _VethSpec:
    """A veth pair for `_veths`: `name` in `ns` with `attrs`, `peer_name` in `peer_ns` with `peer_attrs`
    (keyword arguments of `_Run._attrs_write`). `new`, `link`, `peer` are filled in by `_veths`."""

    key: Any
    label: str
    ns: Namespace
    name: str
    peer_ns: Namespace
    peer_name: str
    peer_owned: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)
    peer_attrs: dict[str, Any] = field(default_factory=dict)
    new: bool = False
    link: Link | None = None
    peer: Link | None = None


@dataclass(eq=False, slots=True)
class _Program:
    """A tc BPF program `name` for the ingress of `ifindex`: `build()` assembles it, `slow()` is the
    one-device `vlan_shim.ensure_*` (True iff it wrote). `dump`: check with a dump of the hook, not a get."""

    what: str
    ifindex: int
    name: str
    record: tuple[str, str] | None
    build: Callable[[], bytes]
    prog_name: str
    slow: Callable[[], bool]
    dump: bool = False


def _paired(a: Link | None, b: Link | None, same: bool) -> bool:
    """`a` and `b` are the two ends of one veth; `same`: both in one namespace."""
    if a is None or b is None or a.kind != "veth" or b.kind != "veth":
        return False
    if a.link != b.index or b.link != a.index:
        return False
    # In one namespace the ends show no netns id; across namespaces both do.
    return (a.link_netnsid is None) == same and (b.link_netnsid is None) == same


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
            req["multipath"] = [{"gateway": gw, **({"oif": oif} if oif else {})} for gw, oif in self.nexthops]
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
