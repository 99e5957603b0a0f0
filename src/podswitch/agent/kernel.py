"""Handles on one network namespace's kernel state, podswitch's ownership marks, and how the kernel's dumps
print things.

Reads go through `netlink.RtSocket` (fast struct parsing); a `Namespace` keeps one socket per namespace and a
cache of its links between the writes of one reconcile. Writes never go through here: every write is a
`writes.KernelWrite`, sent by the run's `writes.Transaction`.

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
import functools
import ipaddress
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Protocol

from . import netlink, netns
from .netlink import KernelLink, RtSocket

OWNER_ALIAS = "podswitch"
PROTO = 112  # "p": marks podswitch's routes, addresses and neighbours
SLICE_PREFIX = "podswitch"  # slice namespaces on a switch whose own namespace has no name


def slice_ns_alias(switch_ns: str | None) -> str:
    return f"{OWNER_ALIAS}:{switch_ns or ''}"


def slice_ns_name(switch_ns: str | None, slice_name: str) -> str:
    return f"{switch_ns or SLICE_PREFIX}-{slice_name}"


class Opener(Protocol):
    """Opens the netlink socket of a namespace. Tests substitute one whose sockets count requests."""

    def rt(self, name: str | None) -> RtSocket: ...


class DefaultOpener:
    def rt(self, name: str | None) -> RtSocket:
        return RtSocket(name)


class Namespace:
    """One namespace: its netlink socket (`rt`) and a cache of its links (`links()`), which a run drops
    whenever it changed a link there (`forget_links`)."""

    def __init__(self, name: str | None, opener: Opener) -> None:
        self.name = name
        self.inode = netns.inode(name)
        self.rt = opener.rt(name)
        self._links: dict[str, KernelLink] | None = None
        # Sysctls and nftables are read and written from inside the namespace, every reconcile: by a thread
        # that stays there (`netns.Resident`), not a new thread per call.
        self._resident = False
        if name is not None:
            with contextlib.suppress(OSError):  # then `run_in` starts a thread per call, as it can
                netns.keep(name)
                self._resident = True

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead handle must not mask the real outcome
            self.rt.close()
        if self._resident and self.name is not None:
            self._resident = False
            netns.release(self.name)

    def stale(self) -> bool:
        """True if the namespace this handle was opened in is no longer the one under its name."""
        try:
            return netns.inode(self.name) != self.inode
        except FileNotFoundError:
            return True

    # -- links

    def links(self, refresh: bool = False) -> dict[str, KernelLink]:
        if self._links is None or refresh:
            self._links = {link.name: link for link in self.rt.links()}
        return self._links

    def link(self, name: str) -> KernelLink | None:
        return self.links().get(name)

    def refresh_link(self, name: str) -> KernelLink | None:
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

    def by_index(self, index: int) -> KernelLink | None:
        for link in self.links().values():
            if link.index == index:
                return link
        return None


@contextlib.contextmanager
def netns_fds(names: Sequence[str | None]) -> Iterator[dict[str | None, int]]:
    """Open fds of namespaces (None: this process's), for IFLA_NET_NS_FD; closed on exit."""
    fds: dict[str | None, int] = {}
    try:
        for name in names:
            if name not in fds:
                fds[name] = os.open(
                    netns.path(name) if name is not None else "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC
                )
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def owned(link: KernelLink) -> bool:
    return link.alias == OWNER_ALIAS


def oper_state(link: KernelLink | None) -> str:
    return "up" if link is not None and link.operstate == netlink.IF_OPER_UP else "down"


def where(netns_name: str | None) -> str:
    """ "@<namespace>" for texts about an object in a named namespace, "" in the process's own."""
    return f"@{netns_name}" if netns_name is not None else ""


def describe_error(e: BaseException) -> str:
    """One line for a result/status: "File exists (errno 17)" for errors with a netlink code, else the
    exception's own text."""
    code = getattr(e, "code", None)
    if isinstance(code, int):
        text = e.args[1] if len(e.args) > 1 and e.args[1] else os.strerror(code)
        return f"{text} (errno {code})"
    return str(e) or type(e).__name__


# ---- how the kernel's dumps print things --------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def ip_text(addr: str) -> str:
    """Canonical text of an IP address (as the kernel's dumps print it). Called for every FDB entry and
    neighbour, so inet_pton/ntop rather than `ipaddress` (10x faster); cached as VTEPs repeat."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, addr))
        except OSError:
            continue
    raise ValueError(f"not an IP address: {addr!r}")


def net_text(prefix: str) -> str:
    """Canonical text of a prefix, as the kernel's dumps print it (see `ip_text`)."""
    net = ipaddress.ip_network(prefix, strict=False)
    return f"{ip_text(str(net.network_address))}/{net.prefixlen}"
