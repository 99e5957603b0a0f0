"""Links (RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK): the parsed device and the requests that create, change
and delete devices, as pyroute2's `link()` sends them (veth pairs, bridges, VXLAN devices, bridge ports)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .attrs import (
    AF_INET,
    AF_UNSPEC,
    NLA_HDR,
    NLA_TYPE_MASK,
    U32,
    attrs,
    ip_bytes,
    ip_str,
    mac_bytes,
    nest,
    nla,
    nla_str,
    nla_u8,
    nla_u32,
)
from .message import NLM_F_CREATE, NLM_F_EXCL, Op

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_PROTINFO, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 12, 16, 18, 20, 28
IFLA_EXT_MASK, IFLA_LINK_NETNSID = 29, 37
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_VXLAN_ID, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PORT, IFLA_VXLAN_LOCAL6 = 1, 4, 7, 15, 17
VETH_INFO_PEER = 1
IFLA_BRPORT_LEARNING = 8
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFF_UP = 0x1
IF_OPER_UP = 6
OPERSTATES = {0: "unknown", 1: "notpresent", 2: "down", 3: "lowerlayerdown", 4: "testing", 5: "dormant", 6: "up"}

IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change


@dataclass(slots=True)
class KernelLink:
    """A device as a link dump or get describes it."""

    index: int
    name: str
    flags: int
    mtu: int
    master: int
    alias: str | None
    operstate: int
    link: int  # for a veth: the peer's ifindex (in the peer's namespace when link_netnsid is set)
    link_netnsid: int | None
    address: str | None
    kind: str | None
    slave_kind: str | None
    # IFLA_INFO_DATA / IFLA_INFO_SLAVE_DATA, raw: parsed (`info`, `slave_info`) only when asked for. A bridge
    # port's slave data alone is ~40 attributes, and a dump of thousands of links needs none of them.
    info_raw: bytes = b""
    slave_info_raw: bytes = b""

    @property
    def info(self) -> dict[int, memoryview]:
        return attrs(self.info_raw, 0, len(self.info_raw))

    @property
    def slave_info(self) -> dict[int, memoryview]:
        return attrs(self.slave_info_raw, 0, len(self.slave_info_raw))

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def oper(self) -> str:
        return OPERSTATES.get(self.operstate, "unknown")

    def info_u32(self, kind: int) -> int | None:
        v = self.info.get(kind)
        return U32.unpack(v[:4])[0] if v is not None and len(v) >= 4 else None

    def info_u8(self, kind: int) -> int | None:
        v = self.info.get(kind)
        return v[0] if v is not None and len(v) >= 1 else None

    def info_be16(self, kind: int) -> int | None:
        v = self.info.get(kind)
        return struct.unpack(">H", v[:2])[0] if v is not None and len(v) >= 2 else None

    def info_ip(self, kind: int) -> str | None:
        v = self.info.get(kind)
        return ip_str(v) if v is not None and len(v) in (4, 16) else None

    def slave_u8(self, kind: int) -> int | None:
        v = self.slave_info.get(kind)
        return v[0] if v is not None and len(v) >= 1 else None


_LINK_WANTED = frozenset(
    {
        IFLA_IFNAME,
        IFLA_MTU,
        IFLA_MASTER,
        IFLA_LINK,
        IFLA_OPERSTATE,
        IFLA_ADDRESS,
        IFLA_IFALIAS,
        IFLA_LINKINFO,
        IFLA_LINK_NETNSID,
    }
)


def parse_link(buf: bytes | memoryview, off: int, end: int) -> KernelLink:
    """One RTM_NEWLINK. A link message is ~40 attributes and 1.5 KB (devconf, bridge port state, ...) of
    which we want a few: one tight walk notes where those are, then only they are decoded (this runs for
    every link of every dump, and a leaf has ~10,000 links). `buf` must not change afterwards (`dump` hands
    over an immutable copy)."""
    _, _, index, flags, _ = IFINFO.unpack_from(buf, off)
    unpack = NLA_HDR.unpack_from
    wanted = _LINK_WANTED
    at: dict[int, tuple[int, int]] = {}  # kind -> (payload start, payload end)
    pos = off + IFINFO.size
    while pos + 4 <= end:
        length, k = unpack(buf, pos)
        if length < 4:
            break
        if k & NLA_TYPE_MASK in wanted:
            at[k & NLA_TYPE_MASK] = (pos + 4, pos + length)
        pos += (length + 3) & ~3

    def text(k: int) -> str | None:
        span = at.get(k)
        return bytes(buf[span[0] : span[1]]).rstrip(b"\0").decode(errors="replace") if span else None

    def u32(k: int) -> int:
        span = at.get(k)
        return U32.unpack_from(buf, span[0])[0] if span and span[1] - span[0] >= 4 else 0

    span = at.get(IFLA_ADDRESS)
    address = bytes(buf[span[0] : span[1]]).hex(":") if span and span[1] - span[0] == 6 else None
    span = at.get(IFLA_LINK_NETNSID)
    netnsid = struct.unpack_from("=i", buf, span[0])[0] if span else None
    span = at.get(IFLA_OPERSTATE)
    operstate = buf[span[0]] if span else 0
    kind = slave_kind = None
    info_raw = slave_raw = b""
    span = at.get(IFLA_LINKINFO)
    if span:
        pos, li_end = span
        while pos + 4 <= li_end:
            length, k = unpack(buf, pos)
            if length < 4:
                break
            k &= NLA_TYPE_MASK
            if k == IFLA_INFO_KIND:
                kind = bytes(buf[pos + 4 : pos + length]).rstrip(b"\0").decode()
            elif k == IFLA_INFO_SLAVE_KIND:
                slave_kind = bytes(buf[pos + 4 : pos + length]).rstrip(b"\0").decode()
            elif k == IFLA_INFO_DATA:
                info_raw = bytes(buf[pos + 4 : pos + length])
            elif k == IFLA_INFO_SLAVE_DATA:
                slave_raw = bytes(buf[pos + 4 : pos + length])
            pos += (length + 3) & ~3
    return KernelLink(
        index,
        text(IFLA_IFNAME) or "",
        flags,
        u32(IFLA_MTU),
        u32(IFLA_MASTER),
        text(IFLA_IFALIAS),
        operstate,
        u32(IFLA_LINK),
        netnsid,
        address,
        kind,
        slave_kind,
        info_raw,
        slave_raw,
    )


_LINK_COMMANDS = {
    "add": (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL),
    "set": (RTM_NEWLINK, 0),
    "del": (RTM_DELLINK, 0),
}


def link_op(
    command: str,
    *,
    what: str,
    index: int = 0,
    ifname: str | None = None,
    kind: str | None = None,
    up: bool = False,
    alias: str | None = None,
    mtu: int | None = None,
    master: int | None = None,
    address: str | None = None,
    info_data: bytes | None = None,
    slave_data: bytes | None = None,
    ok: frozenset[int] = frozenset(),
) -> Op:
    """RTM_NEWLINK (add: create, set: change) or RTM_DELLINK, as pyroute2's `link()` sends it.

    `up` sets IFF_UP (flags and change mask); False leaves the flag alone. `info_data`/`slave_data` are the
    kind's IFLA_INFO_DATA / IFLA_INFO_SLAVE_DATA attributes (see `veth_peer`, `vxlan_data`, `brport_data`)."""
    try:
        msg_type, msg_flags = _LINK_COMMANDS[command]
    except KeyError:
        raise ValueError(f"unknown command {command!r}") from None
    flag = IFF_UP if up else 0
    parts = [IFINFO.pack(AF_UNSPEC, 0, index, flag, flag)]
    if ifname is not None:
        parts.append(nla_str(IFLA_IFNAME, ifname))
    if address is not None:
        parts.append(nla(IFLA_ADDRESS, mac_bytes(address)))
    if mtu is not None:
        parts.append(nla_u32(IFLA_MTU, mtu))
    if master is not None:
        parts.append(nla_u32(IFLA_MASTER, master))
    if alias is not None:
        parts.append(nla_str(IFLA_IFALIAS, alias))
    if kind is not None:
        info = [nla_str(IFLA_INFO_KIND, kind)]
        if info_data is not None:
            info.append(nest(IFLA_INFO_DATA, info_data))
        if slave_data is not None:
            info.append(nest(IFLA_INFO_SLAVE_DATA, slave_data))
        parts.append(nest(IFLA_LINKINFO, *info))
    elif info_data is not None or slave_data is not None:
        raise ValueError("info_data/slave_data need a kind")
    return Op(msg_type, msg_flags, b"".join(parts), what, ok)


def veth_peer(ifname: str, *, address: str | None = None, net_ns_fd: int | None = None) -> bytes:
    """IFLA_INFO_DATA of a veth: the peer's ifinfomsg and attributes (name, MAC, namespace as an open fd).

    The peer cannot be created up (it has no peer of its own yet when it is configured: ENOTCONN); set it
    up afterwards."""
    parts = [IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0), nla_str(IFLA_IFNAME, ifname)]
    if address is not None:
        parts.append(nla(IFLA_ADDRESS, mac_bytes(address)))
    if net_ns_fd is not None:
        parts.append(nla_u32(IFLA_NET_NS_FD, net_ns_fd))
    return nla(VETH_INFO_PEER, b"".join(parts))


def vxlan_data(
    *, vni: int | None = None, local: str | None = None, port: int | None = None, learning: int | None = None
) -> bytes:
    parts = []
    if vni is not None:
        parts.append(nla_u32(IFLA_VXLAN_ID, vni))
    if local is not None:
        family, raw = ip_bytes(local)
        parts.append(nla(IFLA_VXLAN_LOCAL if family == AF_INET else IFLA_VXLAN_LOCAL6, raw))
    if learning is not None:
        parts.append(nla_u8(IFLA_VXLAN_LEARNING, learning))
    if port is not None:
        parts.append(nla(IFLA_VXLAN_PORT, struct.pack(">H", port)))
    return b"".join(parts)


def brport_data(*, learning: int) -> bytes:
    return nla_u8(IFLA_BRPORT_LEARNING, learning)
