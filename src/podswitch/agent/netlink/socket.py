"""The NETLINK_ROUTE socket: dumps parsed with the families' `struct` parsers, batched filter gets, and
batched writes with per-request errors (the kernel's extended-ack message included).

Batching: many requests are encoded into one buffer and handed to the kernel with one send(); the kernel
runs them in order inside that send(). Only the last request of a buffer asks for an ACK. Failures are
always answered (netlink acks every failed request whether or not NLM_F_ACK is set), so when the ACK of the
last sequence number arrives, every error before it has been queued too and can be matched to its request
by sequence number. If the receive queue overflowed (ENOBUFS) the outcome of that buffer is unknown and it
is sent again with an ACK per request; the requests are idempotent (replace/append/delete)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .. import netns
from .addr import IFADDR, RTM_GETADDR, Addr, parse_addr
from .attrs import AF_UNSPEC, attrs, nla, nla_u32, pad
from .link import (
    IFINFO,
    IFLA_EXT_MASK,
    IFLA_IFNAME,
    RTEXT_FILTER_SKIP_STATS,
    RTM_GETLINK,
    RTM_NEWLINK,
    KernelLink,
    parse_link,
)
from .message import (
    ERR,
    HDR,
    NLM_F_ACK,
    NLM_F_ACK_TLVS,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSGERR_ATTR_MSG,
    Failure,
    NetlinkError,
    Op,
)
from .neigh import NDMSG, RTM_GETNEIGH, Neigh, parse_neigh
from .route import RTM_GETROUTE, RTMSG, KernelRoute, parse_route
from .tc import RTM_GETQDISC, RTM_GETTFILTER, RTM_NEWTFILTER, TCMSG, Filter, parse_filter, parse_qdisc

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NETLINK_CAP_ACK = 10
NETLINK_GET_STRICT_CHK = 12

RECV_BUF = 1 << 20
SOCK_BUF = 8 << 20
MAX_BATCH = 1024  # requests per send(): keeps one buffer well under the socket's send limit
MAX_BATCH_BYTES = 1 << 18
DUMP_ATTEMPTS = 16
MAX_GET_BATCH = 256  # filter gets per send(): each answer is an skb of its own (~1-4 KB of receive buffer)


class RtSocket:
    """A NETLINK_ROUTE socket bound to one network namespace (the one it was created in).

    `writes` counts write requests handed to the kernel (each request in a batch counts once)."""

    def __init__(self, name: str | None = None, *, sock: socket.socket | None = None) -> None:
        self.netns = name
        self.sock = sock if sock is not None else netns.run_in(name, _new_socket)
        self.sock.bind((0, 0))
        self._seq = 0
        self._buf = bytearray(RECV_BUF)
        self.writes = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RtSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0x7FFFFFFF or 1
        return self._seq

    def _recv(self) -> memoryview:
        n = self.sock.recv_into(self._buf, len(self._buf), socket.MSG_TRUNC)
        if n > len(self._buf):  # one datagram larger than our buffer: grow and let the next dump retry
            self._buf = bytearray(n * 2)
            raise NetlinkError(errno.EMSGSIZE, "netlink message truncated")
        return memoryview(self._buf)[:n]

    # -- dumps

    def dump(self, msg_type: int, body: bytes, parse: Callable[[bytes, int, int], Any]) -> list[Any]:
        """Send a dump request and parse every answer with `parse(buf, payload_offset, end)`.

        A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) may be inconsistent: start over, after
        the first few tries with a short pause (thousands of new devices keep the address and route tables
        changing for a second or two while IPv6 DAD runs)."""
        for attempt in range(DUMP_ATTEMPTS):
            if attempt >= 3:
                time.sleep(min(0.1, 0.005 * 2 ** (attempt - 3)))
            seq = self._next_seq()
            msg = HDR.pack(HDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
            self.sock.send(msg)
            out: list[Any] = []
            append = out.append
            unpack = HDR.unpack_from
            hdr = HDR.size
            interrupted = False
            done = False
            while not done:
                # An immutable copy: parsed objects may keep views of it, and the receive buffer is reused.
                data = bytes(self._recv())
                pos, n = 0, len(data)
                # Tens of thousands of messages per dump: the loop is kept tight.
                while pos + hdr <= n:
                    length, mtype, mflags, mseq, _ = unpack(data, pos)
                    if length < hdr:
                        break
                    if mseq == seq:
                        if mflags & NLM_F_DUMP_INTR:
                            interrupted = True
                        if mtype > NLMSG_DONE:
                            append(parse(data, pos + hdr, pos + length))
                        elif mtype == NLMSG_DONE:
                            done = True
                        elif mtype == NLMSG_ERROR:
                            err = -ERR.unpack_from(data, pos + hdr)[0]
                            if err:
                                raise NetlinkError(err, os.strerror(err))
                            done = True
                    pos += (length + 3) & ~3
            if not interrupted:
                return out
        raise NetlinkError(errno.EINTR, "dump kept being interrupted")

    def links(self) -> list[KernelLink]:
        body = IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0) + nla_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        return self.dump(RTM_GETLINK, body, parse_link)

    def addrs(self, family: int = AF_UNSPEC) -> list[Addr]:
        return self.dump(RTM_GETADDR, IFADDR.pack(family, 0, 0, 0, 0), parse_addr)

    def routes(
        self,
        family: int = AF_UNSPEC,
        table: int | None = None,
        keep: Callable[[int, int, int], bool] | None = None,
    ) -> list[KernelRoute]:
        """Every route, or those of one `table` (< 256) and those `keep(family, dst_len, protocol)` wants.
        The dump holds every table (the local table has a few routes per device, the main table an IPv6
        link-local route per device); a route refused by its header is not parsed."""
        body = RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
        if table is None and keep is None:
            return self.dump(RTM_GETROUTE, body, parse_route)
        if table is not None and not 0 < table < 256:
            raise ValueError("table filter: ids below 256 only (the header's rtm_table)")
        unpack = RTMSG.unpack_from

        def parse(buf: bytes, off: int, end: int) -> KernelRoute | None:
            fam, dst_len, _, _, tab, proto, _, _, _ = unpack(buf, off)
            if table is not None and tab != table:
                return None
            if keep is not None and not keep(fam, dst_len, proto):
                return None
            return parse_route(buf, off, end)

        return [r for r in self.dump(RTM_GETROUTE, body, parse) if r is not None]

    def neighbours(self, family: int, keep: Callable[[int, int, int], bool] | None = None) -> list[Neigh]:
        """family AF_INET/AF_INET6: neighbour tables; AF_BRIDGE: every FDB (bridges' and devices' own).

        `keep(ifindex, state, flags)` looks at the header first: an entry it refuses is not parsed (every
        device lists its multicast addresses as entries of its own FDB: thousands nobody asked for)."""
        body = NDMSG.pack(family, 0, 0, 0, 0)
        if keep is None:
            return self.dump(RTM_GETNEIGH, body, parse_neigh)
        unpack = NDMSG.unpack_from

        def parse(buf: bytes, off: int, end: int) -> Neigh | None:
            _, ifindex, state, flags, _ = unpack(buf, off)
            return parse_neigh(buf, off, end) if keep(ifindex, state, flags) else None

        return [n for n in self.dump(RTM_GETNEIGH, body, parse) if n is not None]

    def get_link(self, name: str) -> KernelLink | None:
        """One link by name (None if there is none): a single request instead of a dump."""
        body = IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0) + nla(IFLA_IFNAME, name.encode() + b"\0")
        body += nla_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        seq = self._next_seq()
        self.sock.send(HDR.pack(HDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0) + body)
        while True:
            data = self._recv()
            for pos, length, mtype, _, mseq in _messages(data):
                if mseq == seq:
                    if mtype == NLMSG_ERROR:
                        err = -ERR.unpack_from(data, pos + HDR.size)[0]
                        if err in (errno.ENODEV, errno.ENOENT):
                            return None
                        raise NetlinkError(err, os.strerror(err))
                    if mtype == RTM_NEWLINK:
                        return parse_link(data, pos + HDR.size, pos + length)

    def qdiscs(self, parent: int | None = None) -> list[tuple[int, int, str]]:
        """(ifindex, parent, kind) of every qdisc, or of those at `parent` (every device has a root qdisc,
        often `noqueue`: a filter on the parent spares parsing thousands of them)."""
        if parent is None:
            return self.dump(RTM_GETQDISC, TCMSG.pack(AF_UNSPEC, 0, 0, 0, 0), parse_qdisc)
        unpack = TCMSG.unpack_from

        def parse(buf: bytes, off: int, end: int) -> tuple[int, int, str] | None:
            return parse_qdisc(buf, off, end) if unpack(buf, off)[3] == parent else None

        return [q for q in self.dump(RTM_GETQDISC, TCMSG.pack(AF_UNSPEC, 0, 0, 0, 0), parse) if q is not None]

    def filters(self, ifindex: int, parent: int) -> list[Filter]:
        """Every filter on one device's hook `parent` (a dump: the kernel has no per-namespace filter dump).
        No such device, or no qdisc to hold the hook: an empty list."""
        try:
            return self.dump(RTM_GETTFILTER, TCMSG.pack(AF_UNSPEC, ifindex, 0, parent, 0), parse_filter)
        except NetlinkError as e:
            if e.errno in (errno.ENOENT, errno.EINVAL, errno.ENODEV):
                return []
            raise

    def get_filters(self, keys: Sequence[tuple[int, int, int, int, int]]) -> list[Filter | int]:
        """One filter per key (ifindex, parent, prio, protocol, handle), asked for with RTM_GETTFILTER *get*
        requests, many per send(). Each answer is the filter or, if there is none there, the errno (ENOENT
        no such filter/pref, EINVAL no such qdisc or another protocol at that pref, ENODEV no device).

        Not a dump, so no per-request round trip; answers are matched by sequence number. If the receive
        queue overflows (ENOBUFS) the chunk is asked again in smaller pieces (reads are idempotent)."""
        out: list[Filter | int] = []
        size = MAX_GET_BATCH
        start = 0
        while start < len(keys):
            chunk = keys[start : start + size]
            try:
                out.extend(self._get_chunk(chunk))
            except NetlinkError as e:
                if e.errno != errno.ENOBUFS or size <= 16:
                    raise
                size //= 4
                continue
            start += len(chunk)
        return out

    def _get_chunk(self, keys: Sequence[tuple[int, int, int, int, int]]) -> list[Filter | int]:
        parts = []
        seqs: dict[int, int] = {}  # sequence number -> position in keys
        for i, (ifindex, parent, prio, protocol, handle) in enumerate(keys):
            seq = self._next_seq()
            seqs[seq] = i
            body = TCMSG.pack(AF_UNSPEC, ifindex, handle, parent, (prio << 16) | socket.htons(protocol))
            parts.append(HDR.pack(HDR.size + len(body), RTM_GETTFILTER, NLM_F_REQUEST, seq, 0))
            parts.append(body)
        self.sock.send(b"".join(parts))
        answers: list[Filter | int | None] = [None] * len(keys)
        with _answers_lost():
            while seqs:
                data = bytes(self._recv())
                for pos, length, mtype, _, mseq in _messages(data):
                    if mtype not in (NLMSG_ERROR, RTM_NEWTFILTER) or mseq not in seqs:
                        continue
                    i = seqs.pop(mseq)
                    if mtype == NLMSG_ERROR:
                        # Without NLM_F_ACK only failures are acked; a 0 here would be a kernel oddity.
                        answers[i] = -ERR.unpack_from(data, pos + HDR.size)[0] or errno.ENOENT
                    else:
                        answers[i] = parse_filter(data, pos + HDR.size, pos + length)
        return [a if a is not None else errno.ENOENT for a in answers]

    # -- batched writes

    def execute(self, ops: Sequence[Op]) -> list[Failure]:
        """Run write requests in order; return those that failed (errnos in `op.ok` are not failures)."""
        failures: list[Failure] = []
        start = 0
        while start < len(ops):
            size = 0
            stop = start
            while stop < len(ops) and stop - start < MAX_BATCH and size < MAX_BATCH_BYTES:
                size += HDR.size + len(ops[stop].body)
                stop += 1
            chunk = ops[start:stop]
            try:
                failures.extend(self._send_chunk(chunk, ack_all=False))
            except NetlinkError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                # Lost answers: nothing says which requests failed. Send them again, one ACK each and in
                # small groups so the answers fit. An exclusive create (NLM_F_EXCL) that finds its object is
                # done: the first send made it (the caller reads its objects back afterwards anyway).
                for i in range(0, len(chunk), 64):
                    failures.extend(
                        f
                        for f in self._send_chunk(chunk[i : i + 64], ack_all=True)
                        if not (f.errno == errno.EEXIST and f.op.flags & NLM_F_EXCL)
                    )
            start = stop
        return failures

    def _send_chunk(self, chunk: Sequence[Op], *, ack_all: bool) -> list[Failure]:
        parts = []
        last = len(chunk) - 1
        seqs: dict[int, Op] = {}
        for i, op in enumerate(chunk):
            seq = self._next_seq()
            seqs[seq] = op
            flags = NLM_F_REQUEST | op.flags | (NLM_F_ACK if ack_all or i == last else 0)
            parts.append(HDR.pack(HDR.size + len(op.body), op.type, flags, seq, 0))
            parts.append(op.body)
        self.writes += len(chunk)
        self.sock.send(b"".join(parts))
        pending = set(seqs) if ack_all else {self._seq}
        failures: list[Failure] = []
        with _answers_lost():
            while pending:
                data = self._recv()
                for pos, length, mtype, mflags, mseq in _messages(data):
                    if mtype == NLMSG_ERROR and mseq in seqs:
                        err = -ERR.unpack_from(data, pos + HDR.size)[0]
                        if err and err not in seqs[mseq].ok:
                            failures.append(Failure(seqs[mseq], err, _ext_ack_msg(data, pos, length, mflags)))
                        pending.discard(mseq)
        return failures


def _messages(data: bytes | memoryview) -> Iterator[tuple[int, int, int, int, int]]:
    """(offset, length, type, flags, seq) of each netlink message in one received datagram. (`dump` walks
    its own: tens of thousands of messages per dump, where a generator's cost shows.)"""
    pos, n = 0, len(data)
    while pos + HDR.size <= n:
        length, mtype, mflags, mseq, _ = HDR.unpack_from(data, pos)
        if length < HDR.size:
            return
        yield pos, length, mtype, mflags, mseq
        pos += pad(length)


@contextlib.contextmanager
def _answers_lost() -> Iterator[None]:
    """The receive queue overflowed (ENOBUFS): answers were dropped, so nobody knows which requests failed."""
    try:
        yield
    except OSError as e:
        if e.errno == errno.ENOBUFS:
            raise NetlinkError(errno.ENOBUFS, "netlink answers lost") from e
        raise


def _ext_ack_msg(data: memoryview, pos: int, length: int, flags: int) -> str:
    if not flags & NLM_F_ACK_TLVS:
        return ""
    # With NETLINK_CAP_ACK the error carries only the original header: errno (4) + nlmsghdr (16).
    start = pos + HDR.size + 4 + HDR.size
    a = attrs(data, start, pos + length)
    raw = a.get(NLMSGERR_ATTR_MSG)
    return bytes(raw).rstrip(b"\0").decode(errors="replace") if raw is not None else ""


def _new_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    for opt, force in ((socket.SO_SNDBUF, 32), (socket.SO_RCVBUF, 33)):  # SO_SNDBUFFORCE / SO_RCVBUFFORCE
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, SOCK_BUF)
        except OSError:  # without CAP_NET_ADMIN: as much as rmem_max/wmem_max allow
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCK_BUF)
    for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
        with contextlib.suppress(OSError):  # older kernels: plain acks, no error strings
            sock.setsockopt(SOL_NETLINK, opt, 1)
    return sock
