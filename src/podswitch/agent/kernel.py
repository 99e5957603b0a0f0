"""Handles on one network namespace's kernel state, and the write primitives reconcile uses.

Reads go through `netlink.RtSocket` (fast struct parsing). Writes are `Write`s: one request, kept both as the
raw netlink message and as the equivalent pyroute2 call. `Namespace.submit` sends a list of them batched
through `RtSocket.execute` (many per send(), errors matched per request), or — `batch=False`, the old way,
kept as a fallback and as the reference the tests compare against — one pyroute2 request each. FDB entries and
neighbours are always batched. Every write is counted, so a reconcile can say how many it did: zero when the
kernel was right.

Ownership: what podswitch creates carries a mark, and only marked objects are ever removed.
- links: IFLA_IFALIAS = "podswitch" (shows in `ip link` as `alias podswitch`);
- addresses: IFA_PROTO = 112, routes: rtm_protocol = 112, neighbours: NDA_PROTOCOL = 112
  (`ip route show proto 112`);
- slice namespaces: named `<switch-ns>-<slice>` and their `lo` carries the alias `podswitch:<switch-ns>`;
- FDB entries have no mark of their own: static/permanent entries in bridges and on VXLAN devices that
  podswitch owns are podswitch's; learned entries and other devices' entries are never touched;
- tc: `vlan_shim`'s filters carry their own name (`psw1:...`); a trunk program is removed only from a port
  that no desired attachment uses.
Devices the desired state names that already exist with the right kind are adopted (marked), not recreated."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pyroute2 import IPRoute

from . import netlink, netns
from .netlink import AF_INET, AF_INET6, Link, Op, RtSocket

OWNER_ALIAS = "podswitch"
PROTO = 112  # "p": marks podswitch's routes, addresses and neighbours
SLICE_PREFIX = "podswitch"  # slice namespaces on a switch whose own namespace has no name

# pyroute2 methods whose first argument is a command; anything but a read counts as a write.
_WRITE_METHODS = frozenset({"link", "addr", "route", "neigh", "fdb", "rule", "tc", "brport", "vlan_filter"})
_READ_COMMANDS = ("dump", "get", "show", "list")


def slice_ns_alias(switch_ns: str | None) -> str:
    return f"{OWNER_ALIAS}:{switch_ns or ''}"


def slice_ns_name(switch_ns: str | None, slice_name: str) -> str:
    return f"{switch_ns or SLICE_PREFIX}-{slice_name}"


class Opener(Protocol):
    """Opens the two handles of a namespace. Tests substitute one whose handles count writes."""

    def ipr(self, name: str | None) -> Any: ...

    def rt(self, name: str | None) -> RtSocket: ...


class DefaultOpener:
    def ipr(self, name: str | None) -> Any:
        if name is None:
            return IPRoute(groups=0)
        # A netlink socket made inside the namespace by a thread (see netns.run_in) instead of pyroute2's
        # own netns support, which forks a helper process per handle.
        sock = netns.run_in(name, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0))
        return IPRoute(use_socket=sock, groups=0)

    def rt(self, name: str | None) -> RtSocket:
        return RtSocket(name)


class _Counted:
    """Forwards to a pyroute2 handle and counts its write calls into `owner.writes`."""

    def __init__(self, ipr: Any, owner: Namespace) -> None:
        self._ipr = ipr
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._ipr, name)
        if name not in _WRITE_METHODS:
            return attr

        def call(command: Any, *args: Any, **kwargs: Any) -> Any:
            if not (isinstance(command, str) and command.startswith(_READ_COMMANDS)):
                self._owner.writes += 1
            return attr(command, *args, **kwargs)

        return call


# ---- writes -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Write:
    """One kernel write request in two equivalent forms: `op` for the batched path and `call` = (pyroute2
    method, command, args, kwargs) for the one-by-one path. Errnos in `op.ok` are success either way.

    `key` and `record` are the caller's: which object the write belongs to (to attribute a failure), and
    what to note in the result when it succeeded (("created" | "changed" | "removed", text))."""

    op: Op
    call: tuple[str, str, tuple[Any, ...], dict[str, Any]]
    key: Any = None
    record: tuple[str, str] | None = None

    @property
    def what(self) -> str:
        return self.op.what


@dataclass(slots=True)
class WriteFailure:
    write: Write
    errno: int
    message: str = ""

    def describe(self) -> str:
        text = os.strerror(self.errno) if self.errno else "failed"
        return f"{text} (errno {self.errno})" + (f": {self.message}" if self.message else "")


def _up(up: bool) -> dict[str, Any]:
    return {"state": "up"} if up else {}


def link_set(index: int, *, what: str, alias: str | None = None, mtu: int | None = None,
             master: int | None = None, address: str | None = None, up: bool = False, **bk: Any) -> Write:  # fmt: skip
    kw: dict[str, Any] = {"index": index}
    for k, v in (("ifalias", alias), ("mtu", mtu), ("master", master), ("address", address)):
        if v is not None:
            kw[k] = v
    kw.update(_up(up))
    op = netlink.link_op("set", what=what, index=index, alias=alias, mtu=mtu, master=master, address=address, up=up)
    return Write(op, ("link", "set", (), kw), **bk)


def link_del(index: int, *, what: str, **bk: Any) -> Write:
    # A veth's other end goes with it: a delete of something already gone is done.
    op = netlink.link_op("del", what=what, index=index, ok=frozenset({errno.ENODEV}))
    return Write(op, ("link", "del", (), {"index": index}), **bk)


def veth_add(name: str, peer: str, *, what: str, peer_ns_fd: int | None = None, peer_address: str | None = None,
             master: int | None = None, up: bool = False, **bk: Any) -> Write:  # fmt: skip
    """A veth pair `name` <-> `peer`; the peer in the namespace behind the open fd `peer_ns_fd` (None: here).
    Only `name` can be created up and with a master; the peer is configured afterwards."""
    peer_kw: dict[str, Any] = {"ifname": peer}
    if peer_address is not None:
        peer_kw["address"] = peer_address
    if peer_ns_fd is not None:
        peer_kw["net_ns_fd"] = peer_ns_fd
    kw: dict[str, Any] = {"ifname": name, "kind": "veth", "peer": peer_kw}
    if master is not None:
        kw["master"] = master
    kw.update(_up(up))
    data = netlink.veth_peer(peer, address=peer_address, net_ns_fd=peer_ns_fd)
    op = netlink.link_op("add", what=what, ifname=name, kind="veth", info_data=data, master=master, up=up)
    return Write(op, ("link", "add", (), kw), **bk)


def bridge_add(name: str, *, what: str, up: bool = False, **bk: Any) -> Write:
    op = netlink.link_op("add", what=what, ifname=name, kind="bridge", up=up)
    return Write(op, ("link", "add", (), {"ifname": name, "kind": "bridge", **_up(up)}), **bk)


def vxlan_add(name: str, *, what: str, vni: int, local: str, port: int, learning: int, mtu: int, master: int,
              up: bool = False, **bk: Any) -> Write:  # fmt: skip
    kw = {"ifname": name, "kind": "vxlan", "vxlan_id": vni, "vxlan_local": local, "vxlan_port": port,
          "vxlan_learning": learning, "mtu": mtu, "master": master, **_up(up)}  # fmt: skip
    data = netlink.vxlan_data(vni=vni, local=local, port=port, learning=learning)
    op = netlink.link_op("add", what=what, ifname=name, kind="vxlan", info_data=data, mtu=mtu, master=master, up=up)
    return Write(op, ("link", "add", (), kw), **bk)


def vxlan_learning(index: int, learning: int, *, what: str, **bk: Any) -> Write:
    op = netlink.link_op("set", what=what, index=index, kind="vxlan", info_data=netlink.vxlan_data(learning=learning))
    return Write(op, ("link", "set", (), {"index": index, "kind": "vxlan", "vxlan_learning": learning}), **bk)


def brport_learning(index: int, learning: int, *, what: str, **bk: Any) -> Write:
    # pyroute2's brport("set") is a link set of kind "bridge_slave" with IFLA_INFO_SLAVE_DATA.
    op = netlink.link_op("set", what=what, index=index, kind="bridge_slave",
                         slave_data=netlink.brport_data(learning=learning))  # fmt: skip
    return Write(op, ("brport", "set", (), {"index": index, "learning": learning}), **bk)


def addr_write(command: str, *, what: str, index: int, address: str, prefixlen: int, proto: int | None = None,
               **bk: Any) -> Write:  # fmt: skip
    kw: dict[str, Any] = {"index": index, "address": address, "prefixlen": prefixlen}
    if proto is not None:
        kw["proto"] = proto
    op = netlink.addr_op(command, what=what, index=index, address=address, prefixlen=prefixlen, proto=proto)
    return Write(op, ("addr", command, (), kw), **bk)


def route_write(command: str, *, what: str, req: dict[str, Any], **bk: Any) -> Write:
    """`req` is the pyroute2 `route()` request: dst, family, table, proto, type ("unreachable" or an int),
    scope, priority, gateway, oif, multipath ([{gateway, oif?}])."""
    known = {"dst", "family", "table", "proto", "type", "scope", "priority", "gateway", "oif", "multipath"}
    if set(req) - known:
        raise ValueError(f"route request with {sorted(set(req) - known)}")
    rtype = req.get("type", netlink.RTN_UNICAST)
    if isinstance(rtype, str):
        rtype = {"unicast": netlink.RTN_UNICAST, "unreachable": netlink.RTN_UNREACHABLE,
                 "blackhole": netlink.RTN_BLACKHOLE, "prohibit": netlink.RTN_PROHIBIT}[rtype]  # fmt: skip
    family = req.get("family", AF_INET6 if ":" in req["dst"] else AF_INET)
    op = netlink.route_op(
        command, what=what, family=family, dst=req["dst"], table=req.get("table", netlink.RT_TABLE_MAIN),
        proto=req.get("proto", 0), rtype=rtype, scope=req.get("scope", netlink.RT_SCOPE_UNIVERSE),
        priority=req.get("priority"), gateway=req.get("gateway"), oif=req.get("oif"),
        multipath=[(hop.get("gateway"), hop.get("oif", 0)) for hop in req.get("multipath", ())],
    )  # fmt: skip
    return Write(op, ("route", command, (), dict(req)), **bk)


def tc_qdisc_add(ifindex: int, kind: str, *, what: str, handle: int, parent: int, ok: frozenset[int] = frozenset(),
                 **bk: Any) -> Write:  # fmt: skip
    op = netlink.qdisc_op("add", what=what, ifindex=ifindex, kind=kind, handle=handle, parent=parent, ok=ok)
    return Write(op, ("tc", "add", (kind, ifindex), {}), **bk)


def tc_bpf_replace(ifindex: int, *, what: str, parent: int, prio: int, protocol: int, handle: int, fd: int,
                   name: str, direct_action: bool, **bk: Any) -> Write:  # fmt: skip
    flags = 1 if direct_action else 0  # TCA_BPF_FLAG_ACT_DIRECT
    op = netlink.bpf_filter_op(what=what, ifindex=ifindex, parent=parent, prio=prio, protocol=protocol,
                               handle=handle, fd=fd, name=name, flags=flags)  # fmt: skip
    kw = {"handle": handle, "parent": parent, "prio": prio, "protocol": protocol, "fd": fd, "name": name,
          "direct_action": direct_action}  # fmt: skip
    return Write(op, ("tc", "replace-filter", ("bpf", ifindex), kw), **bk)


@contextlib.contextmanager
def netns_fds(names: Sequence[str | None]) -> Iterator[dict[str | None, int]]:
    """Open fds of namespaces (None: this process's), for IFLA_NET_NS_FD; closed on exit."""
    fds: dict[str | None, int] = {}
    try:
        for name in names:
            if name not in fds:
                fds[name] = os.open(netns.path(name) if name is not None else "/proc/self/ns/net",
                                    os.O_RDONLY | os.O_CLOEXEC)  # fmt: skip
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


class Namespace:
    """One namespace: a pyroute2 handle (`ipr`, write-counted), a fast socket (`rt`) and a link cache.

    `batch`: `submit` sends writes batched (default) or one pyroute2 request each."""

    def __init__(self, name: str | None, opener: Opener, *, batch: bool = True) -> None:
        self.name = name
        self.batch = batch
        self.inode = netns.inode(name)
        self.writes = 0  # pyroute2 writes and sysctl writes; batched writes are counted by `rt`
        self._raw_ipr = opener.ipr(name)
        try:
            self.rt = opener.rt(name)
        except BaseException:
            self._raw_ipr.close()
            raise
        self.ipr = _Counted(self._raw_ipr, self)
        self._links: dict[str, Link] | None = None

    def close(self) -> None:
        for closer in (self._raw_ipr.close, self.rt.close):
            with contextlib.suppress(Exception):  # closing a dead handle must not mask the real outcome
                closer()

    def stale(self) -> bool:
        """True if the namespace this handle was opened in is no longer the one under its name."""
        try:
            return netns.inode(self.name) != self.inode
        except FileNotFoundError:
            return True

    @property
    def total_writes(self) -> int:
        return self.writes + self.rt.writes

    # -- links

    def links(self, refresh: bool = False) -> dict[str, Link]:
        if self._links is None or refresh:
            self._links = {link.name: link for link in self.rt.links()}
        return self._links

    def link(self, name: str) -> Link | None:
        return self.links().get(name)

    def refresh_link(self, name: str) -> Link | None:
        """Re-read one link after a write (and update the cache)."""
        link = self.rt.get_link(name)
        links = self.links()
        if link is None:
            links.pop(name, None)
        else:
            links[name] = link
        return link

    def forget_links(self) -> None:
        self._links = None

    def by_index(self, index: int) -> Link | None:
        for link in self.links().values():
            if link.index == index:
                return link
        return None

    # -- writes

    def submit(self, writes: Sequence[Write]) -> list[WriteFailure]:
        """Run `writes` in order; return the failed ones. All are attempted: one failure stops nothing."""
        if not writes:
            return []
        if self.batch:
            by_op = {id(w.op): w for w in writes}
            return [WriteFailure(by_op[id(f.op)], f.errno, f.message) for f in self.rt.execute([w.op for w in writes])]
        failures = []
        for w in writes:
            method, command, args, kwargs = w.call
            try:
                getattr(self.ipr, method)(command, *args, **kwargs)
            except Exception as e:
                code = getattr(e, "code", None)
                if isinstance(code, int):
                    if code not in w.op.ok:
                        failures.append(WriteFailure(w, code, e.args[1] if len(e.args) > 1 and e.args[1] else ""))
                else:
                    failures.append(WriteFailure(w, errno.EINVAL, describe_error(e)))
        return failures

    # -- sysctls

    def ensure_sysctls(self, wanted: dict[str, str]) -> tuple[list[str], dict[str, OSError]]:
        """Write only the values that differ. Returns (keys written, failures)."""
        current = netns.sysctl_get_many(self.name, list(wanted))
        todo = {k: v for k, v in wanted.items() if current.get(k) is not None and current[k] != v}
        missing = {k: FileNotFoundError(2, "no such sysctl") for k in wanted if current.get(k) is None}
        if not todo:
            return [], dict(missing)
        errors = netns.sysctl_set_many(self.name, todo)
        self.writes += len(todo)
        errors.update(missing)
        return [k for k in todo if k not in errors], errors


def owned(link: Link) -> bool:
    return link.alias == OWNER_ALIAS


def oper_state(link: Link | None) -> str:
    return "up" if link is not None and link.operstate == netlink.IF_OPER_UP else "down"


def describe_error(e: BaseException) -> str:
    """One line for a result/status: "File exists (errno 17)" for netlink errors, else the message."""
    code = getattr(e, "code", None)  # pyroute2's NetlinkError
    if isinstance(code, int):
        text = e.args[1] if len(e.args) > 1 and e.args[1] else os.strerror(code)
        return f"{text} (errno {code})"
    return str(e) or type(e).__name__
