"""Routes (RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE): the parsed route and the requests that replace
and delete one, as pyroute2's `route()` sends them (gateways, on-link routes, ECMP, unreachable)."""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from .attrs import AF_INET, U32, attrs, ip_bytes, ip_str, nla, nla_u32, pad
from .message import NLM_F_CREATE, NLM_F_REPLACE, Op

RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 6, 9, 15
RT_TABLE_MAIN = 254
RTN_UNICAST, RTN_LOCAL, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT = 1, 2, 6, 7, 8
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255

RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTNH = struct.Struct("=HBBi")  # rtnexthop: len, flags, hops, ifindex


@dataclass(slots=True, frozen=True)
class KernelRoute:
    """A route as a route dump describes it."""

    family: int
    dst: str  # "prefix/len"
    table: int
    protocol: int
    type: int
    scope: int
    priority: int
    oif: int
    gateway: str | None
    multipath: tuple[tuple[str | None, int], ...]  # (gateway, oif) per nexthop

    def nexthops(self) -> frozenset[tuple[str | None, int]]:
        if self.multipath:
            return frozenset(self.multipath)
        if self.gateway is None and not self.oif:
            return frozenset()
        return frozenset({(self.gateway, self.oif)})


def parse_route(mv: bytes | memoryview, off: int, end: int) -> KernelRoute:
    family, dst_len, _, _, table, protocol, scope, rtype, _ = RTMSG.unpack_from(mv, off)
    a = attrs(mv, off + RTMSG.size, end)
    any_addr = "0.0.0.0" if family == AF_INET else "::"
    dst = f"{ip_str(a[RTA_DST]) if RTA_DST in a else any_addr}/{dst_len}"
    if RTA_TABLE in a:
        table = U32.unpack(a[RTA_TABLE][:4])[0]
    multipath: list[tuple[str | None, int]] = []
    mp = a.get(RTA_MULTIPATH)
    if mp is not None:
        pos = 0
        while pos + RTNH.size <= len(mp):
            length, _, _, ifindex = RTNH.unpack_from(mp, pos)
            if length < RTNH.size:
                break
            nha = attrs(mp, pos + RTNH.size, pos + length)
            gw = nha.get(RTA_GATEWAY)
            multipath.append((ip_str(gw) if gw is not None else None, ifindex))
            pos += pad(length)
    gw = a.get(RTA_GATEWAY)
    return KernelRoute(
        family=family,
        dst=dst,
        table=table,
        protocol=protocol,
        type=rtype,
        scope=scope,
        priority=U32.unpack(a[RTA_PRIORITY][:4])[0] if RTA_PRIORITY in a else 0,
        oif=U32.unpack(a[RTA_OIF][:4])[0] if RTA_OIF in a else 0,
        gateway=ip_str(gw) if gw is not None else None,
        multipath=tuple(multipath),
    )


_ROUTE_COMMANDS = {
    "replace": (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, frozenset()),
    "del": (RTM_DELROUTE, 0, frozenset({errno.ESRCH})),
}


def route_op(
    command: str,
    *,
    what: str,
    family: int,
    dst: str,
    table: int = RT_TABLE_MAIN,
    proto: int = 0,
    rtype: int = RTN_UNICAST,
    scope: int = RT_SCOPE_UNIVERSE,
    priority: int | None = None,
    gateway: str | None = None,
    oif: int | None = None,
    multipath: Sequence[tuple[str | None, int]] = (),
) -> Op:
    """RTM_NEWROUTE (replace) / RTM_DELROUTE (del; a route already gone is not a failure) for `dst`
    ("prefix/len"), as pyroute2's `route()` sends them. `multipath`: (gateway, oif) per nexthop."""
    try:
        msg_type, msg_flags, ok = _ROUTE_COMMANDS[command]
    except KeyError:
        raise ValueError(f"unknown command {command!r}") from None
    prefix, _, plen = dst.partition("/")
    fam, raw = ip_bytes(prefix)
    if fam != family:
        raise ValueError(f"{dst} is not of family {family}")
    dst_len = int(plen) if plen else len(raw) * 8
    parts = [RTMSG.pack(family, dst_len, 0, 0, table if table < 256 else 0, proto, scope, rtype, 0)]
    parts.append(nla(RTA_DST, raw))
    parts.append(nla_u32(RTA_TABLE, table))
    if priority is not None:
        parts.append(nla_u32(RTA_PRIORITY, priority))
    if gateway is not None:
        parts.append(nla(RTA_GATEWAY, ip_bytes(gateway)[1]))
    if oif is not None:
        parts.append(nla_u32(RTA_OIF, oif))
    if multipath:
        hops = []
        for gw, hop_oif in multipath:
            attrs_ = nla(RTA_GATEWAY, ip_bytes(gw)[1]) if gw is not None else b""
            hops.append(RTNH.pack(RTNH.size + len(attrs_), 0, 0, hop_oif) + attrs_)
        parts.append(nla(RTA_MULTIPATH, b"".join(hops)))
    return Op(msg_type, msg_flags, b"".join(parts), what, ok)
