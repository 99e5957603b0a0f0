"""The one way the agent writes to a kernel: `KernelWrite`s collected in a `Transaction` and sent by its
`commit()`, which answers each with a typed `WriteOutcome` (applied / failed with errno and message /
skipped).

As in ovsdbapp's command + transaction API, every concern (links, bridges, attachments, slices, policy)
turns desired + observed state into small write objects and hands them over; nothing else in the agent
changes a kernel. The kinds of write:

- `NetlinkWrite`: one rtnetlink request (a `netlink.Op`) in one namespace. A commit sends those of one
  namespace batched through its `RtSocket.execute`: many per send(), errors matched per request;
- `SysctlWrite`: one /proc/sys value in one namespace (one thread per namespace and commit);
- `NetnsWrite`: create or remove a named network namespace;
- `NftWrite`: replace (or delete) a namespace's `table inet podswitch`: one nf_tables transaction.

Order: a commit runs its writes in the order they were added, except that a run of consecutive netlink (or
sysctl) writes is grouped per namespace: each namespace's writes in their order, the namespaces in the order
they first appear. A write added `after=` other writes waits for their outcome and is skipped if one of them
did not apply (a device's create after the removal of the wrong device of that name). One failure stops
nothing else.

`Transaction.writes` counts every write handed to the kernel (each request of a batch once): zero when the
kernel was right. The builders below (`link_set`, `veth_add`, `route_write`, ...) encode each request once,
with the `netlink` encoders; the tests decode the messages with pyroute2 and compare them with the pyroute2
call that used to be made instead."""

from __future__ import annotations

import enum
import errno
import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, overload

from . import netlink, netns, nft
from .kernel import describe_error
from .netlink import AF_INET, AF_INET6, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTN_UNICAST, Op, RtSocket

RecordKind = Literal["created", "changed", "removed"]
Record = tuple[RecordKind, str]  # what a result notes when the write applied: ("created", "link br10300")


LINK_MESSAGES = frozenset({netlink.RTM_NEWLINK, netlink.RTM_DELLINK})  # writes after which links are read again

# ---- the kinds of write ---------------------------------------------------------------------------------


@dataclass(eq=False, slots=True, kw_only=True)
class NetlinkWrite:
    """One rtnetlink request in namespace `netns` (None: the process's own). `key` is the caller's: which
    object the write belongs to (to attribute a failure); `record` what to note in the result when it
    applied. Errnos in `op.ok` count as applied."""

    netns: str | None
    op: Op
    key: Hashable = None
    record: Record | None = None

    @property
    def what(self) -> str:
        return self.op.what

    @property
    def changes_links(self) -> bool:
        return self.op.type in LINK_MESSAGES


@dataclass(eq=False, slots=True, kw_only=True)
class SysctlWrite:
    """`/proc/sys/<sysctl>` = `value` in namespace `netns` (slash-separated keys: device names have dots)."""

    netns: str | None
    sysctl: str
    value: str
    what: str
    key: Hashable = None
    record: Record | None = None


@dataclass(eq=False, slots=True, kw_only=True)
class NetnsWrite:
    """Create (`create`) or remove the named network namespace `name`."""

    name: str
    create: bool
    what: str
    key: Hashable = None
    record: Record | None = None

    def apply(self) -> None:
        if self.create:
            netns.add(self.name)
        else:
            netns.remove(self.name)


@dataclass(eq=False, slots=True, kw_only=True)
class NftWrite:
    """Make `table inet podswitch` in namespace `netns` equal to `ruleset` (None: no table), in one nf_tables
    transaction (see `nft.write_table`)."""

    netns: str | None
    ruleset: str | None
    what: str
    key: Hashable = None
    record: Record | None = None

    def apply(self) -> None:
        nft.write_table(self.netns, self.ruleset)


KernelWrite = NetlinkWrite | SysctlWrite | NetnsWrite | NftWrite


# ---- outcomes -------------------------------------------------------------------------------------------


class WriteStatus(enum.Enum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted: a write it was added after did not apply


class WriteOutcome(NamedTuple):
    """What became of one write. A named tuple: a reconcile records one per write, tens of thousands of them
    for a leaf's FDB, and a tuple is built in C."""

    write: KernelWrite
    status: WriteStatus
    errno: int = 0
    message: str = ""

    @property
    def applied(self) -> bool:
        return self.status is WriteStatus.APPLIED

    def describe(self) -> str:
        """ "File exists (errno 17): <the kernel's extended ack>" for a failure, or the message alone when
        there is no errno (nft's own error text)."""
        if self.errno:
            return f"{os.strerror(self.errno)} (errno {self.errno})" + (f": {self.message}" if self.message else "")
        return self.message or self.status.value


class Committed(Sequence[WriteOutcome]):
    """The outcome of each write of one commit, in the order they were added. `writes` and `problems` (the
    outcome of every write that did not apply, by `id(write)`) are what a caller walking thousands of writes
    uses; an applied write's outcome object is only made when asked for."""

    __slots__ = ("clean", "problems", "writes")

    def __init__(self, writes: list[KernelWrite], problems: dict[int, WriteOutcome], clean: bool = False) -> None:
        self.writes = writes
        self.problems = problems
        self.clean = clean  # every write of this commit applied

    def __len__(self) -> int:
        return len(self.writes)

    @overload
    def __getitem__(self, index: int) -> WriteOutcome: ...

    @overload
    def __getitem__(self, index: slice) -> list[WriteOutcome]: ...

    def __getitem__(self, index: int | slice) -> WriteOutcome | list[WriteOutcome]:
        if isinstance(index, slice):
            return [self._outcome(w) for w in self.writes[index]]
        return self._outcome(self.writes[index])

    def _outcome(self, write: KernelWrite) -> WriteOutcome:
        return self.problems.get(id(write)) or WriteOutcome(write, WriteStatus.APPLIED)


def _failure(e: BaseException) -> tuple[int, str]:
    """(errno, message) of an exception a write raised; the message only where it says more than the errno."""
    if isinstance(e, OSError) and e.errno:
        message = e.strerror if e.strerror and e.strerror != os.strerror(e.errno) else ""
        if e.filename is not None:
            message = f"{message} ({e.filename})" if message else str(e.filename)
        return e.errno, message
    return 0, str(e) or type(e).__name__


@dataclass
class WritePlan:
    """What a concern's pure part computed: the writes, in order, and the objects it could not plan, as
    (what, why) pairs for the result's errors."""

    writes: list[KernelWrite] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, write: KernelWrite) -> None:
        self.writes.append(write)

    def error(self, what: str, why: str | BaseException) -> None:
        self.errors.append((what, why if isinstance(why, str) else describe_error(why)))

    def extend(self, other: WritePlan) -> None:
        self.writes += other.writes
        self.errors += other.errors


# ---- the transaction ------------------------------------------------------------------------------------


class Transaction:
    """Collects writes (`add`) and sends them (`commit`); `socket_of(netns)` gives the netlink socket of a
    namespace. A transaction may be committed many times (a reconcile reads the kernel back between
    steps); `writes` counts across all of them, and a write may be added `after=` writes of an earlier
    commit."""

    def __init__(self, socket_of: Callable[[str | None], RtSocket]) -> None:
        self._socket_of = socket_of
        self._pending: list[tuple[KernelWrite, tuple[KernelWrite, ...]]] = []
        # Every committed write is in one of the two: applied ones by id only (a leaf's FDB is tens of
        # thousands of writes that all apply: no object each), the others with their outcome.
        self._applied_ids: set[int] = set()
        self._problems: dict[int, WriteOutcome] = {}
        self._ordered = False  # some pending write waits for others (`after=`)
        self.writes = 0

    def add(self, write: KernelWrite, *, after: Iterable[KernelWrite] = ()) -> KernelWrite:
        waits = tuple(after)
        self._pending.append((write, waits))
        self._ordered = self._ordered or bool(waits)
        return write

    def extend(self, writes: Iterable[KernelWrite]) -> None:
        self._pending.extend((write, ()) for write in writes)

    def outcome(self, write: KernelWrite) -> WriteOutcome | None:
        problem = self._problems.get(id(write))
        if problem is not None or id(write) not in self._applied_ids:
            return problem
        return WriteOutcome(write, WriteStatus.APPLIED)

    def commit(self) -> Committed:
        """Send what was added since the last commit; return the outcome of each, in the order added."""
        pending, self._pending = self._pending, []
        order = [w for w, _ in pending]
        known = len(self._problems)
        if not self._ordered:  # nothing waits for anything: one wave, no bookkeeping per write
            self._run(order)
            return Committed(order, self._problems, clean=len(self._problems) == known)
        self._ordered = False
        while pending:
            wave: list[KernelWrite] = []
            waiting: list[tuple[KernelWrite, tuple[KernelWrite, ...]]] = []
            for write, after in pending:
                if not after:  # the common case, tens of thousands of times: nothing to wait for
                    wave.append(write)
                    continue
                before = [self.outcome(a) for a in after]
                if any(o is None for o in before):
                    waiting.append((write, after))
                    continue
                failed = next((o for o in before if o is not None and not o.applied), None)
                if failed is not None:
                    note = f"after {failed.write.what}: {failed.status.value}"
                    self._problems[id(write)] = WriteOutcome(write, WriteStatus.SKIPPED, 0, note)
                else:
                    wave.append(write)
            if len(waiting) == len(pending):
                raise ValueError(f"{waiting[0][0].what}: added after a write that is not in the transaction")
            self._run(wave)
            pending = waiting
        return Committed(order, self._problems, clean=len(self._problems) == known)

    def _run(self, wave: Sequence[KernelWrite]) -> None:
        i = 0
        while i < len(wave):
            kind = type(wave[i])
            j = i + 1
            while j < len(wave) and type(wave[j]) is kind:
                j += 1
            if kind is NetlinkWrite:
                self._netlink([w for w in wave[i:j] if isinstance(w, NetlinkWrite)])
            elif kind is SysctlWrite:
                self._sysctls([w for w in wave[i:j] if isinstance(w, SysctlWrite)])
            else:
                for w in wave[i:j]:
                    self._one(w)
            i = j

    def _applied(self, write: KernelWrite) -> None:
        self._applied_ids.add(id(write))

    def _failed(self, write: KernelWrite, code: int, message: str) -> None:
        self._problems[id(write)] = WriteOutcome(write, WriteStatus.FAILED, code, message)

    def _netlink(self, writes: list[NetlinkWrite]) -> None:
        groups: dict[str | None, list[NetlinkWrite]] = {}
        for w in writes:
            groups.setdefault(w.netns, []).append(w)
        for name, group in groups.items():
            try:
                rt = self._socket_of(name)
            except Exception as e:
                for w in group:
                    self._failed(w, *_failure(e))
                continue
            self.writes += len(group)
            try:
                failures = rt.execute([w.op for w in group])
            except Exception as e:  # the socket itself failed: nobody knows which requests applied
                for w in group:
                    self._failed(w, *_failure(e))
                continue
            if not failures:
                self._applied_ids.update(map(id, group))
                continue
            failed = {id(f.op): f for f in failures}
            for w in group:
                f = failed.get(id(w.op))
                if f is None:
                    self._applied_ids.add(id(w))
                else:
                    self._failed(w, f.errno, f.message)

    def _sysctls(self, writes: list[SysctlWrite]) -> None:
        groups: dict[str | None, list[SysctlWrite]] = {}
        for w in writes:
            groups.setdefault(w.netns, []).append(w)
        for name, group in groups.items():
            self.writes += len(group)
            try:
                errors = netns.sysctl_set_many(name, {w.sysctl: w.value for w in group})
            except Exception as e:
                for w in group:
                    self._failed(w, *_failure(e))
                continue
            for w in group:
                err = errors.get(w.sysctl)
                if err is None:
                    self._applied(w)
                else:
                    self._failed(w, *_failure(err))

    def _one(self, write: KernelWrite) -> None:
        assert isinstance(write, NetnsWrite | NftWrite)
        self.writes += 1
        try:
            write.apply()
        except Exception as e:
            self._failed(write, *_failure(e))
            return
        self._applied(write)


# ---- netlink writes -------------------------------------------------------------------------------------
# One builder per request the agent makes; each names the pyroute2 call it stands for (the tests decode the
# messages and compare them with that call).


def link_set(
    netns: str | None,
    index: int,
    *,
    what: str,
    alias: str | None = None,
    mtu: int | None = None,
    master: int | None = None,
    address: str | None = None,
    up: bool = False,
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.link("set", index=, ifalias=, mtu=, master=, address=, state="up")"""
    op = netlink.link_op("set", what=what, index=index, alias=alias, mtu=mtu, master=master, address=address, up=up)
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def link_del(
    netns: str | None, index: int, *, what: str, key: Hashable = None, record: Record | None = None
) -> NetlinkWrite:
    """ipr.link("del", index=). A veth's other end goes with it: a delete of something already gone is done."""
    op = netlink.link_op("del", what=what, index=index, ok=frozenset({errno.ENODEV}))
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def veth_add(
    netns: str | None,
    name: str,
    peer: str,
    *,
    what: str,
    peer_ns_fd: int | None = None,
    peer_address: str | None = None,
    master: int | None = None,
    up: bool = False,
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.link("add", ifname=name, kind="veth", peer={ifname, address, net_ns_fd}, master=, state="up"):
    a veth pair `name` <-> `peer`, the peer in the namespace behind the open fd `peer_ns_fd` (None: here).
    Only `name` can be created up and with a master; the peer is configured afterwards."""
    data = netlink.veth_peer(peer, address=peer_address, net_ns_fd=peer_ns_fd)
    op = netlink.link_op("add", what=what, ifname=name, kind="veth", info_data=data, master=master, up=up)
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def bridge_add(
    netns: str | None, name: str, *, what: str, up: bool = False, key: Hashable = None, record: Record | None = None
) -> NetlinkWrite:
    """ipr.link("add", ifname=name, kind="bridge", state="up")"""
    op = netlink.link_op("add", what=what, ifname=name, kind="bridge", up=up)
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def vxlan_add(
    netns: str | None,
    name: str,
    *,
    what: str,
    vni: int,
    local: str,
    port: int,
    learning: int,
    mtu: int,
    master: int,
    up: bool = False,
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.link("add", ifname=name, kind="vxlan", vxlan_id=, vxlan_local=, vxlan_port=, vxlan_learning=, mtu=,
    master=, state="up")"""
    data = netlink.vxlan_data(vni=vni, local=local, port=port, learning=learning)
    op = netlink.link_op("add", what=what, ifname=name, kind="vxlan", info_data=data, mtu=mtu, master=master, up=up)
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def vxlan_learning(
    netns: str | None, index: int, learning: int, *, what: str, key: Hashable = None, record: Record | None = None
) -> NetlinkWrite:
    """ipr.link("set", index=, kind="vxlan", vxlan_learning=)"""
    op = netlink.link_op("set", what=what, index=index, kind="vxlan", info_data=netlink.vxlan_data(learning=learning))
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def brport_learning(
    netns: str | None, index: int, learning: int, *, what: str, key: Hashable = None, record: Record | None = None
) -> NetlinkWrite:
    """ipr.brport("set", index=, learning=): a link set of kind "bridge_slave" with IFLA_INFO_SLAVE_DATA."""
    op = netlink.link_op(
        "set", what=what, index=index, kind="bridge_slave", slave_data=netlink.brport_data(learning=learning)
    )
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def addr_write(
    command: str,
    netns: str | None,
    *,
    what: str,
    index: int,
    address: str,
    prefixlen: int,
    proto: int | None = None,
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.addr(command, index=, address=, prefixlen=, proto=); command "replace" or "del"."""
    op = netlink.addr_op(command, what=what, index=index, address=address, prefixlen=prefixlen, proto=proto)
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def route_write(
    command: str,
    netns: str | None,
    *,
    what: str,
    dst: str,
    family: int | None = None,
    table: int = RT_TABLE_MAIN,
    proto: int = 0,
    rtype: int = RTN_UNICAST,
    scope: int = RT_SCOPE_UNIVERSE,
    priority: int | None = None,
    gateway: str | None = None,
    oif: int | None = None,
    multipath: Sequence[tuple[str | None, int]] = (),
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.route(command, dst=, family=, table=, proto=, type=, scope=, priority=, gateway=, oif=,
    multipath=[{gateway, oif}]); command "replace" or "del"."""
    if family is None:
        family = AF_INET6 if ":" in dst else AF_INET
    op = netlink.route_op(
        command,
        what=what,
        family=family,
        dst=dst,
        table=table,
        proto=proto,
        rtype=rtype,
        scope=scope,
        priority=priority,
        gateway=gateway,
        oif=oif,
        multipath=multipath,
    )
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def neigh_write(
    command: str,
    netns: str | None,
    *,
    what: str,
    family: int,
    ifindex: int,
    state: int = 0,
    flags: int = 0,
    lladdr: str | None = None,
    dst: str | None = None,
    master: int | None = None,
    protocol: int | None = None,
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.neigh(command, family=, ifindex=, state=, flags=, lladdr=, dst=, master=, protocol=) and
    ipr.fdb(...) for AF_BRIDGE; command "replace", "append" or "del"."""
    op = netlink.neigh_op(
        command,
        what=what,
        family=family,
        ifindex=ifindex,
        state=state,
        flags=flags,
        lladdr=lladdr,
        dst=dst,
        master=master,
        protocol=protocol,
    )
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def qdisc_write(
    command: str,
    netns: str | None,
    ifindex: int,
    kind: str,
    *,
    what: str,
    handle: int,
    parent: int,
    ok: frozenset[int] = frozenset(),
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.tc(command, kind, ifindex); command "add" or "del"."""
    op = netlink.qdisc_op(command, what=what, ifindex=ifindex, kind=kind, handle=handle, parent=parent, ok=ok)
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def bpf_filter_replace(
    netns: str | None,
    ifindex: int,
    *,
    what: str,
    parent: int,
    prio: int,
    protocol: int,
    handle: int,
    fd: int,
    name: str,
    direct_action: bool,
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.tc("replace-filter", "bpf", ifindex, handle=, parent=, prio=, protocol=, fd=, name=, direct_action=)"""
    flags = 1 if direct_action else 0  # TCA_BPF_FLAG_ACT_DIRECT
    op = netlink.bpf_filter_op(
        what=what,
        ifindex=ifindex,
        parent=parent,
        prio=prio,
        protocol=protocol,
        handle=handle,
        fd=fd,
        name=name,
        flags=flags,
    )
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)


def filter_del(
    netns: str | None,
    ifindex: int,
    *,
    what: str,
    parent: int,
    prio: int,
    protocol: int,
    key: Hashable = None,
    record: Record | None = None,
) -> NetlinkWrite:
    """ipr.tc("del-filter", None, ifindex, parent=, info=(prio << 16) | htons(protocol))"""
    op = netlink.filter_del_op(what=what, ifindex=ifindex, parent=parent, prio=prio, protocol=protocol)
    return NetlinkWrite(netns=netns, op=op, key=key, record=record)
