"""Addresses (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR): the parsed address and the requests that add and
remove one, as pyroute2's `addr()` sends them."""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from socket import inet_ntop

from .attrs import AF_INET, AF_INET6, NLA_HDR, NLA_TYPE_MASK, ip_bytes, nla, nla_u8
from .message import NLM_F_CREATE, NLM_F_REPLACE, Op

RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS, IFA_PROTO = 1, 2, 8, 11

IFADDR = struct.Struct("=BBBBi")  # ifaddrmsg: family, prefixlen, flags, scope, index


@dataclass(slots=True, frozen=True)
class Addr:
    index: int
    family: int
    address: str
    prefixlen: int
    scope: int
    proto: int

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


def parse_addr(buf: bytes | memoryview, off: int, end: int) -> Addr:
    family, prefixlen, _, scope, index = IFADDR.unpack_from(buf, off)
    local = address = None
    proto = 0
    pos = off + IFADDR.size
    unpack = NLA_HDR.unpack_from
    while pos + 4 <= end:  # inlined: every device has an address or two (IPv6 link-local)
        length, k = unpack(buf, pos)
        if length < 4:
            break
        k &= NLA_TYPE_MASK
        if k == IFA_LOCAL:
            local = bytes(buf[pos + 4 : pos + length])
        elif k == IFA_ADDRESS:
            address = bytes(buf[pos + 4 : pos + length])
        elif k == IFA_PROTO:
            proto = buf[pos + 4]
        pos += (length + 3) & ~3
    # IPv4: IFA_LOCAL is our address, IFA_ADDRESS the peer on point-to-point; IPv6 only has IFA_ADDRESS.
    raw = local if local is not None else address
    text = inet_ntop(AF_INET if len(raw) == 4 else AF_INET6, raw) if raw is not None else ""
    return Addr(index, family, text, prefixlen, scope, proto)


_ADDR_COMMANDS = {
    "replace": (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, frozenset()),
    "del": (RTM_DELADDR, 0, frozenset({errno.EADDRNOTAVAIL})),
}


def addr_op(command: str, *, what: str, index: int, address: str, prefixlen: int, proto: int | None = None) -> Op:
    """RTM_NEWADDR (replace) / RTM_DELADDR (del; an address already gone is not a failure), as pyroute2's
    `addr()` sends them: IFA_ADDRESS, for IPv4 also IFA_LOCAL, and IFA_PROTO."""
    try:
        msg_type, msg_flags, ok = _ADDR_COMMANDS[command]
    except KeyError:
        raise ValueError(f"unknown command {command!r}") from None
    family, raw = ip_bytes(address)
    parts = [IFADDR.pack(family, prefixlen, 0, 0, index), nla(IFA_ADDRESS, raw)]
    if family == AF_INET:
        parts.append(nla(IFA_LOCAL, raw))
    if proto is not None:
        parts.append(nla_u8(IFA_PROTO, proto))
    return Op(msg_type, msg_flags, b"".join(parts), what, ok)
