"""802.1Q tag push/pop with tc BPF: the stand-in for `eth0.300` on kernels without 802.1Q devices.

Model (see `fabric.state.VlanAttachment`): a trunk `port` carries tagged frames. Each VLAN `v` on it has a
veth pair `subif` <-> `shim` in the port's namespace; `subif` is a bridge member (or carries an IP on a
server), `shim` is the BPF end.

* `port` ingress, one "pop" program per trunk: the kernel has already moved the outer tag into
  `skb->vlan_tci` before tc ingress (skb_vlan_untag runs even without CONFIG_VLAN_8021Q), so the program
  reads `vlan_present`/`vlan_proto`/`vlan_tci` from `struct __sk_buff`, looks the VID up in a binary
  decision tree of compares baked into the program, calls `bpf_skb_vlan_pop` and `bpf_redirect`s the
  frame to the egress of `shim`, so it comes out of `subif`. Unknown VLANs, 802.1ad outer tags and untagged
  frames are dropped (TC_ACT_SHOT, visible as `dropped` in the clsact qdisc stats).
* `shim` ingress, one "push" program per attachment: `bpf_skb_vlan_push(0x8100, v)` and `bpf_redirect` to
  the egress of `port`.

The programs are a dozen instructions assembled by `bpf.Asm` (no clang, no object files, no compile per
attachment), loaded with bpf(2) BPF_PROG_LOAD (`bpf.load_program`), and attached as a cls_bpf
direct-action filter (pref 1, handle 1, protocol all) on the `clsact` ingress hook. The filter's NAME encodes
the program's parameters (`psw1:pop:300=12,301=13`, `psw1:push:300>7`), so reading the filter back says
whether it is already right: an unchanged hook costs one read and no write and loads no program.
Replacing is `RTM_NEWTFILTER` with NLM_F_REPLACE on the same pref/handle, which cls_bpf swaps under RCU:
hitless. Ifindexes are those of the device's namespace (bpf_redirect resolves them in the namespace of the
packet's device); the process may sit in any namespace since program fds are namespace independent and the
attach goes through a socket in the device's namespace.

Names are limited to 255 bytes by the kernel (CLS_BPF_NAME_LEN); a trunk map too long to spell out is
named by digest (`psw1:pop#<sha256/128>`), which still answers "is it right" but not "what is it".

The agent (thousands of attachments at once): `expected_push_name` / `expected_trunk_name` say what the
filter must be called, `check_named` asks the kernel for the pref-1 filter of many devices in one send()
through `netlink.RtSocket.get_filters` (RTM_GETTFILTER gets, not dumps: the kernel has no filter dump per
namespace), `read_hook` reads one device's whole hook with the fast parser, and `attach_writes` /
`detach_writes` turn what is on a hook into the writes that make it right, for the agent's
`writes.Transaction` to batch. A get sees only our own slot (pref 1, protocol all, handle 1); a foreign
filter elsewhere on a hook whose own filter is right is found by `read_hook` (a dump), which the reconcile
uses on trunk ports and on any device whose filter is not right.

Hosts without an agent (the lab's servers, the tests' hosts): `ensure_push`, `ensure_trunk`, `read` and
`remove` do the same for one device at a time through a pyroute2 handle. The agent never calls them.

Cost (measured, 2-core VM, 1,000 shims in one namespace): BPF_PROG_LOAD of a push program ~70 us; a first
ensure_push ~1.8 ms, a replace ~1.7 ms, a no-op ~0.6 ms, almost all of it pyroute2 netlink round trips.
Through the fast socket: a `read_hook` dump ~40 us, a `check_named` get ~15-25 us per device.
Loading is ~4 % of an attach, so programs are not shared between attachments (a shared program would need
a map keyed by the shim's ifindex, i.e. map updates and map lifetime per namespace, to save ~70 us). A
4,094-VLAN trunk program (~14k instructions) loads in ~0.15 s.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .bpf import (
    HELPER_REDIRECT,
    HELPER_SKB_VLAN_POP,
    HELPER_SKB_VLAN_PUSH,
    R0,
    R1,
    R2,
    R3,
    R6,
    R7,
    R8,
    SKB_VLAN_PRESENT,
    SKB_VLAN_PROTO,
    SKB_VLAN_TCI,
    TC_ACT_SHOT,
    Asm,
    load_program,
)
from .netlink import RtSocket
from .writes import NetlinkWrite, Record, bpf_filter_replace, filter_del, qdisc_write

__all__ = [
    "Hook",
    "ShimState",
    "attach_writes",
    "check_named",
    "detach_writes",
    "egress_busy",
    "ensure_push",
    "ensure_trunk",
    "expected_push_name",
    "expected_trunk_name",
    "pop_program",
    "push_program",
    "read",
    "read_hook",
    "remove",
]

# Bump when the generated code changes: the version is part of the filter name, so agents replace programs
# that an older version generated even though their parameters are equal.
VERSION = "psw1"

# tc attachment point. clsact ingress is TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS).
CLSACT_HANDLE = 0xFFFF0000
CLSACT_PARENT = 0xFFFFFFF1  # TC_H_CLSACT (= TC_H_INGRESS): the qdisc slot clsact and ingress share
INGRESS_PARENT = 0xFFFFFFF2
EGRESS_PARENT = 0xFFFFFFF3
PREF = 1
FILTER_HANDLE = 1
ETH_P_ALL = 0x0003
TCA_BPF_FLAG_ACT_DIRECT = 1
POP_PROGRAM, PUSH_PROGRAM = "psw_pop", "psw_push"  # the programs' own names (bpftool prog show)

# vlan_proto is a __be16 in the skb; loaded into a register it reads as htons() of the ethertype on any host.
_ETH_P_8021Q_BE = socket.htons(0x8100)

# ---------------------------------------------------------------------------------------------------------
# The two programs
# ---------------------------------------------------------------------------------------------------------


def _check_vlan(vlan: int) -> None:
    if not 1 <= vlan <= 4094:
        raise ValueError(f"VLAN id {vlan} out of range 1..4094")


def _check_ifindex(ifindex: int) -> None:
    # mov imm is a sign-extended s32; ifindexes are positive ints.
    if not 0 < ifindex < 2**31:
        raise ValueError(f"bad ifindex {ifindex}")


def pop_program(vlans: Mapping[int, int]) -> bytes:
    """Trunk ingress: tag VID -> pop and redirect to that shim's egress; anything else -> drop."""
    for vlan, ifindex in vlans.items():
        _check_vlan(vlan)
        _check_ifindex(ifindex)
    a = Asm()
    if not vlans:
        # The verifier rejects unreachable code, so "drop everything" is its own program.
        a.mov_imm(R0, TC_ACT_SHOT)
        a.exit()
        return a.assemble()
    a.mov_reg(R6, R1)  # ctx survives the helper calls in a callee-saved register
    a.ldx_w(R2, R1, SKB_VLAN_PRESENT)
    a.jeq_imm(R2, 0, "drop")
    a.ldx_w(R2, R1, SKB_VLAN_PROTO)  # an 802.1ad (0x88a8) outer tag is not one of our VLANs
    a.jne_imm(R2, _ETH_P_8021Q_BE, "drop")
    a.ldx_w(R7, R1, SKB_VLAN_TCI)
    a.and_imm(R7, 0xFFF)  # strip PCP/DEI

    def tree(items: list[tuple[int, int]]) -> None:
        # A binary search over the sorted VIDs keeps a 4094-VLAN trunk at ~12 compares per frame; the leaves
        # are short linear runs. Every path sets r8 = target ifindex and jumps to "act", or jumps to "drop".
        if len(items) <= 4:
            for vid, ifindex in items:
                nxt = a.new_label()
                a.jne_imm(R7, vid, nxt)
                a.mov_imm(R8, ifindex)
                a.ja("act")
                a.label(nxt)
            a.ja("drop")
            return
        mid = len(items) // 2
        right = a.new_label()
        a.jgt_imm(R7, items[mid - 1][0], right)
        tree(items[:mid])
        a.label(right)
        tree(items[mid:])

    tree(sorted(vlans.items()))
    a.label("act")
    a.mov_reg(R1, R6)
    a.call_helper(HELPER_SKB_VLAN_POP)
    a.jne_imm(R0, 0, "drop")
    a.mov_reg(R1, R8)
    a.mov_imm(R2, 0)  # flags 0 = egress of the target device
    a.call_helper(HELPER_REDIRECT)  # returns TC_ACT_REDIRECT, or TC_ACT_SHOT for bad flags
    a.exit()
    a.label("drop")
    a.mov_imm(R0, TC_ACT_SHOT)
    a.exit()
    return a.assemble()


def push_program(vlan: int, port_ifindex: int) -> bytes:
    """Shim ingress: push tag `vlan` and redirect to the trunk's egress."""
    _check_vlan(vlan)
    _check_ifindex(port_ifindex)
    a = Asm()
    # r1 = ctx already
    a.mov_imm(R2, _ETH_P_8021Q_BE)
    a.mov_imm(R3, vlan)
    a.call_helper(HELPER_SKB_VLAN_PUSH)
    a.jne_imm(R0, 0, "drop")
    a.mov_imm(R1, port_ifindex)
    a.mov_imm(R2, 0)
    a.call_helper(HELPER_REDIRECT)
    a.exit()
    a.label("drop")
    a.mov_imm(R0, TC_ACT_SHOT)
    a.exit()
    return a.assemble()


# ---------------------------------------------------------------------------------------------------------
# Filter names: the program's parameters, so the attached state can be read back
# ---------------------------------------------------------------------------------------------------------

_NAME_MAX = 255  # CLS_BPF_NAME_LEN 256 including the NUL


@dataclass(frozen=True)
class ShimState:
    """What our filter on an interface's ingress says it does.

    `vlans` maps VID -> target ifindex: for "pop" the shim of every VLAN on the trunk, for "push" the single
    {vlan: trunk port}. It is None when the name only carries a digest (a trunk map over 255 bytes)."""

    kind: Literal["pop", "push"]
    vlans: Mapping[int, int] | None
    name: str


def expected_trunk_name(vlans: Mapping[int, int]) -> str:
    """The name of the filter that pops `vlans` ({VID: shim ifindex}): equal names, equal programs."""
    for vlan, ifindex in vlans.items():
        _check_vlan(vlan)
        _check_ifindex(ifindex)
    return _pop_name(vlans)


def expected_push_name(vlan: int, port_ifindex: int) -> str:
    """The name of the filter that pushes `vlan` and sends the frame out of `port_ifindex`."""
    _check_vlan(vlan)
    _check_ifindex(port_ifindex)
    return _push_name(vlan, port_ifindex)


def _pop_name(vlans: Mapping[int, int]) -> str:
    name = f"{VERSION}:pop:" + ",".join(f"{v}={i}" for v, i in sorted(vlans.items()))
    if len(name) > _NAME_MAX:
        name = f"{VERSION}:pop#" + hashlib.sha256(name.encode()).hexdigest()[:32]
    return name


def _push_name(vlan: int, port_ifindex: int) -> str:
    return f"{VERSION}:push:{vlan}>{port_ifindex}"


def _parse_name(name: str) -> ShimState | None:
    try:
        if name.startswith(f"{VERSION}:pop#"):
            return ShimState("pop", None, name)
        if name.startswith(f"{VERSION}:pop:"):
            body = name[len(f"{VERSION}:pop:") :]
            vlans: dict[int, int] = {}
            for item in filter(None, body.split(",")):
                v, i = item.split("=")
                vlans[int(v)] = int(i)
            return ShimState("pop", vlans, name)
        if name.startswith(f"{VERSION}:push:"):
            v, i = name[len(f"{VERSION}:push:") :].split(">")
            return ShimState("push", {int(v): int(i)}, name)
    except ValueError:
        pass
    return None


# ---------------------------------------------------------------------------------------------------------
# What is on a hook, and the writes that make it right (the agent's path)
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Hook:
    """What is on a device's ingress hook."""

    ours: str | None  # our filter's name if pref 1 / handle 1 is our direct-action bpf filter
    foreign: list[tuple[int, int]]  # (prio, protocol) of anything else on the ingress hook

    def right(self, name: str) -> bool:
        return self.ours == name and not self.foreign

    def state(self) -> ShimState | None:
        return _parse_name(self.ours) if self.ours else None


def _is_ours(prio: int, proto: int, handle: int, kind: str | None, name: str | None, flags: int | None) -> bool:
    return (
        kind == "bpf"
        and prio == PREF
        and proto == ETH_P_ALL
        and handle == FILTER_HANDLE
        and flags is not None
        and bool(flags & TCA_BPF_FLAG_ACT_DIRECT)
        and bool(name)
        and _parse_name(name) is not None  # type: ignore[arg-type]
    )


def _classify(filters: Iterable[tuple[int, int, int, str | None, str | None, int | None]]) -> Hook:
    """(prio, protocol, handle, kind, bpf name, bpf flags) of each filter of a dump -> Hook."""
    hook = Hook(None, [])
    for prio, proto, handle, kind, name, flags in filters:
        if handle == 0:
            continue  # the per-prio chain head that a dump emits before the filters themselves
        if _is_ours(prio, proto, handle, kind, name, flags):
            hook.ours = name
        elif (prio, proto) not in hook.foreign:
            hook.foreign.append((prio, proto))
    return hook


def read_hook(rt: RtSocket, ifindex: int) -> Hook:
    """`ifindex`'s whole ingress hook, read with one dump through a `netlink.RtSocket` (fast)."""
    return _classify(
        (f.prio, f.protocol, f.handle, f.kind, f.bpf_name, f.bpf_flags) for f in rt.filters(ifindex, INGRESS_PARENT)
    )


def check_named(rt: RtSocket, wanted: Mapping[int, str]) -> set[int]:
    """The devices of `wanted` ({ifindex: expected filter name}) whose pref-1 slot holds our direct-action
    filter of exactly that name. One RTM_GETTFILTER get per device, many per send(), no dump; see the
    module docstring for what a get does not see."""
    order = list(wanted)
    answers = rt.get_filters([(i, INGRESS_PARENT, PREF, ETH_P_ALL, FILTER_HANDLE) for i in order])
    right = set()
    for ifindex, f in zip(order, answers, strict=True):
        if isinstance(f, int):
            continue
        if f.bpf_name == wanted[ifindex] and _is_ours(f.prio, f.protocol, f.handle, f.kind, f.bpf_name, f.bpf_flags):
            right.add(ifindex)
    return right


def egress_busy(rt: RtSocket, ifindex: int) -> bool:
    """Whether anything is attached to `ifindex`'s egress hook (then its clsact qdisc must stay)."""
    return any(f.handle for f in rt.filters(ifindex, EGRESS_PARENT))


def attach_writes(
    netns: str | None,
    ifindex: int,
    fd: int,
    name: str,
    *,
    slot: str | None,
    hook: Hook,
    what: str,
    key: Hashable = None,
    record: Record | None = None,
) -> list[NetlinkWrite]:
    """The writes that make `ifindex`'s ingress run program `fd` as our filter `name`, given what is there:
    `slot`, the kind of the qdisc in clsact's slot (None: no qdisc), and `hook`, the filters on the ingress
    hook (`read_hook`; not looked at unless the slot holds a clsact). `fd` must stay open until the writes
    are committed. `key` goes on every write, `record` (what a result notes when it applied) on the filter."""
    writes = []
    if slot is not None and slot != "clsact":
        # Only `ingress` can share clsact's slot (ffff:fff1); it blocks clsact, so it goes, with its filters.
        writes.append(
            qdisc_write(
                "del",
                netns,
                ifindex,
                slot,
                handle=CLSACT_HANDLE,
                parent=CLSACT_PARENT,
                ok=frozenset({errno.ENOENT}),
                what=f"{what}: remove {slot}",
                key=key,
            )
        )
    if slot != "clsact":
        writes.append(
            qdisc_write(
                "add",
                netns,
                ifindex,
                "clsact",
                handle=CLSACT_HANDLE,
                parent=CLSACT_PARENT,
                what=f"{what}: clsact",
                key=key,
            )
        )
    else:
        for prio, proto in hook.foreign:
            # The port belongs to the agent. A foreign filter at our pref would make replace fail (kind
            # mismatch); any other would run only if ours passed frames on, which it never does, but it is
            # still drift.
            writes.append(
                filter_del(
                    netns,
                    ifindex,
                    parent=INGRESS_PARENT,
                    prio=prio,
                    protocol=proto,
                    what=f"{what}: remove filter pref {prio}",
                    key=key,
                )
            )
    # NLM_F_REPLACE on an existing pref/handle: cls_bpf swaps the program under RCU, no frame sees a gap.
    writes.append(
        bpf_filter_replace(
            netns,
            ifindex,
            parent=INGRESS_PARENT,
            prio=PREF,
            protocol=ETH_P_ALL,
            handle=FILTER_HANDLE,
            fd=fd,
            name=name,
            direct_action=True,
            what=f"{what}: filter",
            key=key,
            record=record,
        )
    )
    return writes


def detach_writes(
    netns: str | None,
    ifindex: int,
    hook: Hook,
    *,
    egress_busy: bool,
    what: str,
    key: Hashable = None,
    record: Record | None = None,
) -> list[NetlinkWrite]:
    """The writes that remove our filter from `ifindex`'s ingress, and the clsact qdisc with it if nothing
    else uses the qdisc (nothing foreign on the ingress `hook`, not `egress_busy`). None if our filter is not
    there: an empty clsact we did not empty ourselves may be someone else's."""
    if hook.ours is None:
        return []
    writes = [
        filter_del(
            netns,
            ifindex,
            parent=INGRESS_PARENT,
            prio=PREF,
            protocol=ETH_P_ALL,
            what=f"{what}: filter",
            key=key,
            record=record,
        )
    ]
    if not hook.foreign and not egress_busy:
        writes.append(
            qdisc_write(
                "del",
                netns,
                ifindex,
                "clsact",
                handle=CLSACT_HANDLE,
                parent=CLSACT_PARENT,
                what=f"{what}: clsact",
                key=key,
            )
        )
    return writes


# ---------------------------------------------------------------------------------------------------------
# One device through a pyroute2 handle: hosts without an agent (the lab's servers, the tests' hosts)
# ---------------------------------------------------------------------------------------------------------


def _read_hook(ipr: Any, ifindex: int) -> Hook:
    from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

    try:
        msgs = ipr.get_filters(index=ifindex, parent=INGRESS_PARENT)
    except NetlinkError as e:  # the device vanished, or (older kernels) no qdisc: nothing attached
        if e.code in (errno.ENOENT, errno.EINVAL):
            return Hook(None, [])
        raise

    def fields(msg: Any) -> tuple[int, int, int, str | None, str | None, int | None]:
        info = msg["info"]
        opts = msg.get_attr("TCA_OPTIONS")
        name = opts.get_attr("TCA_BPF_NAME") if opts is not None else None
        flags = opts.get_attr("TCA_BPF_FLAGS") if opts is not None else None
        return info >> 16, socket.ntohs(info & 0xFFFF), msg["handle"], msg.get_attr("TCA_KIND"), name, flags

    return _classify(fields(m) for m in msgs)


def _ensure_clsact(ipr: Any, ifindex: int) -> None:
    from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

    # Ask the kernel about this one device: a qdisc dump is per namespace (pyroute2 filters by index on our
    # side), which made first-time attaches O(devices) each: 115 ms per shim with 2,000 links.
    try:
        ipr.tc("add", "clsact", ifindex)
        return
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
    try:
        ipr.tc("get", "clsact", ifindex)  # the kernel answers EINVAL if the qdisc there is of another kind
        return
    except NetlinkError as e:
        if e.code != errno.EINVAL:
            raise
    # Only `ingress` can share clsact's slot (ffff:fff1); it blocks clsact, so it goes.
    ipr.tc("del", "ingress", ifindex)
    ipr.tc("add", "clsact", ifindex)


def _attach(ipr: Any, ifindex: int, insns: bytes, name: str, prog_name: str) -> bool:
    hook = _read_hook(ipr, ifindex)
    if hook.ours == name and not hook.foreign:
        return False
    if hook.ours is None and not hook.foreign:
        _ensure_clsact(ipr, ifindex)
    for prio, proto in hook.foreign:
        # The port belongs to the agent. A foreign filter at our pref would make replace fail (kind mismatch);
        # any other would run only if ours passed frames on, which it never does, but it is still drift.
        ipr.tc("del-filter", None, ifindex, parent=INGRESS_PARENT, info=(prio << 16) | socket.htons(proto))
    fd = load_program(insns, prog_name)
    try:
        # NLM_F_REPLACE on an existing pref/handle: cls_bpf swaps the program under RCU, no frame sees a gap.
        ipr.tc(
            "replace-filter",
            "bpf",
            ifindex,
            handle=FILTER_HANDLE,
            parent=INGRESS_PARENT,
            prio=PREF,
            protocol=ETH_P_ALL,
            fd=fd,
            name=name,
            direct_action=True,
        )
    finally:
        os.close(fd)  # the filter holds its own reference to the program
    return True


def ensure_trunk(ipr: Any, port_ifindex: int, vlans: Mapping[int, int]) -> bool:
    """Make `port_ifindex`'s ingress pop VLAN v and send it to shim `vlans[v]`; drop the rest.

    An empty mapping drops everything. Returns True iff it wrote anything."""
    vlans = dict(vlans)
    return _attach(ipr, port_ifindex, pop_program(vlans), _pop_name(vlans), POP_PROGRAM)


def ensure_push(ipr: Any, shim_ifindex: int, vlan: int, port_ifindex: int) -> bool:
    """Make `shim_ifindex`'s ingress push tag `vlan` and send the frame out of `port_ifindex`."""
    return _attach(ipr, shim_ifindex, push_program(vlan, port_ifindex), _push_name(vlan, port_ifindex), PUSH_PROGRAM)


def read(ipr: Any, ifindex: int) -> ShimState | None:
    """Our filter on `ifindex`'s ingress, parsed from its name; None if there is none."""
    return _read_hook(ipr, ifindex).state()


def remove(ipr: Any, ifindex: int) -> bool:
    """Remove our filter, and the clsact qdisc if nothing else is attached to it. True iff it wrote."""
    hook = _read_hook(ipr, ifindex)
    if hook.ours is None:
        return False  # an empty clsact we did not empty ourselves may be someone else's
    ipr.tc("del-filter", None, ifindex, parent=INGRESS_PARENT, info=(PREF << 16) | socket.htons(ETH_P_ALL))
    if not hook.foreign and not any(m["handle"] for m in _dump_filters(ipr, ifindex, EGRESS_PARENT)):
        ipr.tc("del", "clsact", ifindex)
    return True


def _dump_filters(ipr: Any, ifindex: int, parent: int) -> Iterable[Any]:
    from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

    try:
        return list(ipr.get_filters(index=ifindex, parent=parent))
    except NetlinkError as e:
        if e.code in (errno.ENOENT, errno.EINVAL):
            return []
        raise
