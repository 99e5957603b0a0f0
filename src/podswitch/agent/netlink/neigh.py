"""Neighbours and FDB entries (RTM_NEWNEIGH / RTM_DELNEIGH / RTM_GETNEIGH): the parsed entry and the
requests that replace, append and delete entries. One FDB entry or neighbour is one request, so both the
parser and the encoder are written for tens of thousands of them per reconcile."""

from __future__ import annotations

import errno
import socket
import struct
from socket import inet_ntop
from typing import NamedTuple

from .attrs import AF_INET, AF_INET6, NLA_HDR, NLA_TYPE_MASK, U32
from .message import NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE, Op

RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NDA_DST, NDA_LLADDR, NDA_VLAN, NDA_PORT, NDA_VNI, NDA_IFINDEX, NDA_MASTER = 1, 2, 5, 6, 7, 8, 9
NDA_PROTOCOL = 12
NTF_SELF = 0x02
NTF_MASTER = 0x04
NTF_EXT_LEARNED = 0x10
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

NDMSG = struct.Struct("=BxxxiHBB")  # ndmsg: family, ifindex, state, flags, type


class Neigh(NamedTuple):
    """A neighbour or FDB entry. A NamedTuple: dumps make tens of thousands of these."""

    family: int
    ifindex: int
    state: int
    flags: int
    lladdr: str | None
    dst: str | None
    master: int
    protocol: int
    vlan: int


def parse_neigh(buf: bytes | memoryview, off: int, end: int) -> Neigh:
    family, ifindex, state, flags, _ = NDMSG.unpack_from(buf, off)
    lladdr = dst = None
    master = protocol = vlan = 0
    pos = off + NDMSG.size
    unpack = NLA_HDR.unpack_from
    # Inlined attribute walk on bytes (indexing bytes is cheaper than struct calls): this runs once per FDB
    # entry, tens of thousands of times per read.
    while pos + 4 <= end:
        length, kind = unpack(buf, pos)
        if length < 4:
            break
        kind &= NLA_TYPE_MASK
        if kind == NDA_LLADDR:
            if length == 10:
                lladdr = buf[pos + 4 : pos + 10].hex(":")
        elif kind == NDA_DST:
            dst = inet_ntop(AF_INET if length == 8 else AF_INET6, bytes(buf[pos + 4 : pos + length]))
        elif kind == NDA_MASTER:
            master = buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 | buf[pos + 7] << 24
        elif kind == NDA_PROTOCOL:
            protocol = buf[pos + 4]
        elif kind == NDA_VLAN:
            vlan = buf[pos + 4] | buf[pos + 5] << 8
        pos += (length + 3) & ~3
    return _new_tuple(Neigh, (family, ifindex, state, flags, lladdr, dst, master, protocol, vlan))


_new_tuple = tuple.__new__


_NLA_LLADDR = NLA_HDR.pack(10, NDA_LLADDR)
_NLA_DST4 = NLA_HDR.pack(8, NDA_DST)
_NLA_DST6 = NLA_HDR.pack(20, NDA_DST)
_NLA_MASTER = NLA_HDR.pack(8, NDA_MASTER)
_NLA_PROTOCOL = NLA_HDR.pack(5, NDA_PROTOCOL)
_NEIGH_FLAGS = {
    "replace": (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, frozenset()),
    "append": (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, frozenset({errno.EEXIST})),
    "del": (RTM_DELNEIGH, 0, frozenset({errno.ENOENT})),
}


def neigh_op(
    command: str,
    *,
    family: int,
    ifindex: int,
    what: str,
    state: int = 0,
    flags: int = 0,
    lladdr: str | None = None,
    dst: str | None = None,
    master: int | None = None,
    protocol: int | None = None,
) -> Op:
    """An RTM_NEWNEIGH/RTM_DELNEIGH request: neighbours (AF_INET/6) and FDB entries (AF_BRIDGE).

    command: replace (create or overwrite), append (add one more destination, vxlan flood lists) or del.
    Attributes are packed with precomputed headers: this runs once per FDB entry."""
    try:
        msg_type, msg_flags, ok = _NEIGH_FLAGS[command]
    except KeyError:
        raise ValueError(f"unknown command {command!r}") from None
    parts = [NDMSG.pack(family, ifindex, state, flags, 0)]
    if lladdr is not None:
        raw = bytes.fromhex(lladdr.replace(":", ""))
        if len(raw) != 6:
            raise ValueError(f"bad MAC {lladdr!r}")
        parts += (_NLA_LLADDR, raw, b"\0\0")
    if dst is not None:
        if ":" in dst:
            parts += (_NLA_DST6, socket.inet_pton(AF_INET6, dst))
        else:
            parts += (_NLA_DST4, socket.inet_pton(AF_INET, dst))
    if master is not None:
        parts += (_NLA_MASTER, U32.pack(master))
    if protocol is not None:
        parts += (_NLA_PROTOCOL, bytes((protocol, 0, 0, 0)))
    return Op(msg_type, msg_flags, b"".join(parts), what, ok)
