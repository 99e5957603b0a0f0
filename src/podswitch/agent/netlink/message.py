"""The netlink message around every family's body: the header, its flags, and one write request (`Op`)
with what can come back for it (`Failure`, `NetlinkError`)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_ACK_TLVS = 0x200  # on an NLMSG_ERROR: extended-ack attributes follow
NLMSGERR_ATTR_MSG = 1

HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
ERR = struct.Struct("=i")  # nlmsgerr: the (negative) errno, then the request's header


class NetlinkError(OSError):
    """A request failed; `errno` and, when the kernel sent one, its extended-ack message."""


@dataclass(slots=True)
class Op:
    """One write request: message `type`, NLM_F_* `flags` (REQUEST and ACK are the socket's business) and
    the family's `body`. `what` names it in error reports; errnos in `ok` count as success (EEXIST for an
    append that is already there, ENOENT for a delete of something already gone)."""

    type: int
    flags: int
    body: bytes
    what: str
    ok: frozenset[int] = frozenset()

    def message(self, seq: int = 1, flags: int = 0) -> bytes:
        """The whole netlink message (header + body), as the socket sends it; for decoding in tests."""
        return HDR.pack(HDR.size + len(self.body), self.type, NLM_F_REQUEST | self.flags | flags, seq, 0) + self.body


@dataclass(slots=True)
class Failure:
    op: Op
    errno: int
    message: str

    def __str__(self) -> str:
        text = os.strerror(self.errno)
        return f"{self.op.what}: {text}" + (f" ({self.message})" if self.message else "")
