"""Netlink attributes (NLA): encoding, the walk that finds them in a message, and the address and MAC
texts the kernel's attributes carry. Shared by every message family."""

from __future__ import annotations

import socket
import struct

AF_UNSPEC = 0
AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
AF_BRIDGE = 7

NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

NLA_HDR = struct.Struct("=HH")  # struct nlattr: len, type
U32 = struct.Struct("=I")


def pad(n: int) -> int:
    """`n` rounded up to netlink's 4-byte alignment."""
    return (n + 3) & ~3


def nla(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return NLA_HDR.pack(length, kind) + data + b"\0" * (pad(length) - length)


def nla_u8(kind: int, value: int) -> bytes:
    return nla(kind, bytes((value,)))


def nla_u32(kind: int, value: int) -> bytes:
    return nla(kind, U32.pack(value))


def nla_str(kind: int, text: str) -> bytes:
    return nla(kind, text.encode() + b"\0")


def nest(kind: int, *parts: bytes) -> bytes:
    return nla(kind | NLA_F_NESTED, b"".join(parts))


def attrs(buf: bytes | memoryview, start: int, end: int) -> dict[int, memoryview]:
    """Attributes of a message part as {type: payload}; the last of a repeated type wins."""
    out: dict[int, memoryview] = {}
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    unpack = NLA_HDR.unpack_from
    while start + 4 <= end:
        length, kind = unpack(mv, start)
        if length < 4:
            break
        out[kind & NLA_TYPE_MASK] = mv[start + 4 : start + length]
        start += (length + 3) & ~3
    return out


def mac_str(raw: bytes | memoryview) -> str:
    return bytes(raw).hex(":")


def mac_bytes(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"bad MAC {mac!r}")
    return raw


def ip_str(raw: bytes | memoryview) -> str:
    raw = bytes(raw)
    return socket.inet_ntop(AF_INET if len(raw) == 4 else AF_INET6, raw)


def ip_bytes(ip: str) -> tuple[int, bytes]:
    if ":" in ip:
        return AF_INET6, socket.inet_pton(AF_INET6, ip)
    return AF_INET, socket.inet_pton(AF_INET, ip)
