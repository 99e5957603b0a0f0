"""Handles on one network namespace's kernel state, and the write primitives reconcile uses.

Reads go through `netlink.RtSocket` (fast struct parsing); bulk FDB/neighbour writes are batched there too.
Link, address and route writes go through pyroute2 (few of them, and tc/BPF in `vlan_shim` needs a pyroute2
handle anyway). Every write is counted, so a reconcile can say how many it did: zero when the kernel was right.

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
import os
import socket
from typing import Any, Protocol

from pyroute2 import IPRoute

from . import netlink, netns
from .netlink import Link, RtSocket

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
        sock = netns.run_in(
            name, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)
        )
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


class Namespace:
    """One namespace: a pyroute2 handle (`ipr`, write-counted), a fast socket (`rt`) and a link cache."""

    def __init__(self, name: str | None, opener: Opener) -> None:
        self.name = name
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


