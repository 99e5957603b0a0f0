"""Traffic control (RTM_*QDISC, RTM_*TFILTER): parsed qdiscs and filters, and the requests `vlan_shim`
makes (clsact qdisc, cls_bpf filter), as pyroute2's `tc()` sends them.

tc filters cannot be dumped per namespace: RTM_GETTFILTER dumps one device's hook (tcm_ifindex 0 dumps
nothing), and a socket runs one dump at a time (a second dump request in the same send() gets EBUSY). A
*get* of one filter (pref/protocol/handle given) is not a dump, though: `RtSocket.get_filters` sends many
of them in one send() and reads the answers by sequence number, like the batched writes."""

from __future__ import annotations

import errno
import socket
import struct
from typing import NamedTuple

from .attrs import AF_UNSPEC, NLA_HDR, NLA_TYPE_MASK, U32, attrs, nla, nla_str, nla_u32
from .message import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Op

RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 44, 45, 46
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS = 6, 7, 8

TCMSG = struct.Struct("=BxxxiIII")  # tcmsg: family, ifindex, handle, parent, info


def parse_qdisc(mv: bytes | memoryview, off: int, end: int) -> tuple[int, int, str]:
    _, ifindex, _, parent, _ = TCMSG.unpack_from(mv, off)
    a = attrs(mv, off + TCMSG.size, end)
    kind = bytes(a[TCA_KIND]).rstrip(b"\0").decode() if TCA_KIND in a else ""
    return ifindex, parent, kind


class Filter(NamedTuple):
    """A tc filter as a dump or get answers it. `prio` is the pref, `protocol` the ethertype in host order;
    `bpf_name`/`bpf_flags` are cls_bpf's TCA_BPF_NAME/TCA_BPF_FLAGS (None for other kinds). A dump also
    answers one message with handle 0 per pref: the classifier instance itself."""

    ifindex: int
    parent: int
    handle: int
    prio: int
    protocol: int
    kind: str
    bpf_name: str | None
    bpf_flags: int | None


def parse_filter(buf: bytes | memoryview, off: int, end: int) -> Filter:
    _, ifindex, handle, parent, info = TCMSG.unpack_from(buf, off)
    kind = ""
    name = flags = None
    opts_start = opts_end = 0
    unpack = NLA_HDR.unpack_from
    pos = off + TCMSG.size
    while pos + 4 <= end:  # inlined: one filter per shim, thousands per reconcile
        length, k = unpack(buf, pos)
        if length < 4:
            break
        k &= NLA_TYPE_MASK
        if k == TCA_KIND:
            kind = bytes(buf[pos + 4 : pos + length]).rstrip(b"\0").decode(errors="replace")
        elif k == TCA_OPTIONS:
            opts_start, opts_end = pos + 4, pos + length
        pos += (length + 3) & ~3
    if kind == "bpf":
        pos = opts_start
        while pos + 4 <= opts_end:
            length, k = unpack(buf, pos)
            if length < 4:
                break
            k &= NLA_TYPE_MASK
            if k == TCA_BPF_NAME:
                name = bytes(buf[pos + 4 : pos + length]).rstrip(b"\0").decode(errors="replace")
            elif k == TCA_BPF_FLAGS and length >= 8:
                flags = U32.unpack_from(buf, pos + 4)[0]
            pos += (length + 3) & ~3
    return Filter(ifindex, parent, handle, info >> 16, socket.ntohs(info & 0xFFFF), kind, name, flags)


_QDISC_COMMANDS = {
    "add": (RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL),
    "del": (RTM_DELQDISC, 0),
}


def qdisc_op(
    command: str, *, what: str, ifindex: int, kind: str, handle: int, parent: int, ok: frozenset[int] = frozenset()
) -> Op:
    try:
        msg_type, msg_flags = _QDISC_COMMANDS[command]
    except KeyError:
        raise ValueError(f"unknown command {command!r}") from None
    body = TCMSG.pack(AF_UNSPEC, ifindex, handle, parent, 0) + nla_str(TCA_KIND, kind)
    return Op(msg_type, msg_flags, body, what, ok)


def bpf_filter_op(
    *, what: str, ifindex: int, parent: int, prio: int, protocol: int, handle: int, fd: int, name: str, flags: int
) -> Op:
    """Create or replace (NLM_F_REPLACE) a cls_bpf filter running program `fd`, as pyroute2's
    `tc("replace-filter", "bpf", ...)` sends it."""
    info = (prio << 16) | socket.htons(protocol)
    opts = nla_u32(TCA_BPF_FD, fd) + nla_str(TCA_BPF_NAME, name) + nla_u32(TCA_BPF_FLAGS, flags)
    body = TCMSG.pack(AF_UNSPEC, ifindex, handle, parent, info) + nla_str(TCA_KIND, "bpf") + nla(TCA_OPTIONS, opts)
    return Op(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, body, what)


def filter_del_op(*, what: str, ifindex: int, parent: int, prio: int, protocol: int) -> Op:
    """Delete the filters at pref `prio` / `protocol` of one hook, every handle (`tc filter del dev X ingress
    pref P protocol Y`), as pyroute2's `tc("del-filter", None, ifindex, parent=, info=)` sends it. A pref
    that is gone already (ENOENT) is done."""
    info = (prio << 16) | socket.htons(protocol)
    body = TCMSG.pack(AF_UNSPEC, ifindex, 0, parent, info)
    return Op(RTM_DELTFILTER, 0, body, what, frozenset({errno.ENOENT}))
