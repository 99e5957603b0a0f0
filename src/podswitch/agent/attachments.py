"""VLAN attachments and their tc programs: per (port, VLAN) a veth pair `subif` (in the segment's bridge)
<-> `shim`, a push program on every shim, a pop program on every trunk port, and the pop program removed
from a port that carries no attachment any more (see `vlan_shim` for the programs).

tc state is read in bulk: one qdisc dump for the namespace, one batch of filter gets for the shims (no dump
per shim), one dump per trunk port; a hook that is not right is read whole with one dump. The writes that
make a hook right come from `vlan_shim.attach_writes` (pure) and go out in batches with their programs
loaded, `PROGRAM_BATCH` at a time (a filter keeps its own reference to its program, so the fds are closed
after each batch)."""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..fabric.state import VlanAttachment
from . import devices, vlan_shim
from .bpf import load_program
from .kernel import OWNER_ALIAS, Namespace, owned
from .netlink import KernelLink
from .run import Run, failed_keys
from .writes import KernelWrite, NetlinkWrite, Record

PROGRAM_BATCH = 256  # BPF programs loaded (fds open) at a time for one batch of tc writes
EMPTY_HOOK = vlan_shim.Hook(None, [])


@dataclass(eq=False, slots=True)
class Program:
    """A tc BPF program for the ingress of `ifindex`, whose filter is to be called `name`: `build()`
    assembles it. `dump`: check it with a dump of the hook (trunk ports), not with a get."""

    what: str
    ifindex: int
    name: str
    record: Record | None
    build: Callable[[], bytes]
    prog_name: str
    dump: bool = False


def reconcile(run: Run) -> None:
    d = run.desired
    sw = run.sw
    trunks: dict[str, dict[int, int]] = defaultdict(dict)  # port -> {VID: shim ifindex}
    specs: list[devices.VethSpec] = []
    port_up: dict[str, NetlinkWrite] = {}
    for a in d.attachments:
        what = f"attachment {a.port} vlan {a.vlan}"
        # If this attachment fails half-way, its VLAN stays on the trunk map as long as its shim exists:
        # an error elsewhere must not cut a VLAN that may still be forwarding.
        existing = sw.link(a.shim)
        if existing is not None and existing.kind == "veth" and owned(existing):
            trunks[a.port][a.vlan] = existing.index
        b = run.bridges.get(a.vni)
        br = sw.link(b.bridge) if b is not None else None
        port = sw.link(a.port)
        if b is None:
            run.error(what, f"no segment bridge for VNI {a.vni} in the desired state")
        elif br is None:
            run.error(what, f"bridge {b.bridge} missing")
        elif port is None:
            run.error(what, f"port {a.port}: no such device (not cabled?)")
        else:
            if a.port not in port_up and (w := devices.attrs_write(sw.name, port, a.port, up=True, key=a.port)):
                port_up[a.port] = w
            specs.append(
                devices.VethSpec(
                    a,
                    what,
                    sw,
                    a.subif,
                    sw,
                    a.shim,
                    attrs={"master": br.index, "alias": OWNER_ALIAS},
                    peer_attrs={"alias": OWNER_ALIAS},
                )
            )
    bad_ports = failed_keys(run.commit(list(port_up.values())))
    for v in specs:
        if v.key.port in bad_ports:
            run.error(v.label, f"port {v.key.port} could not be set up")
    done = devices.ensure_veths(run, [v for v in specs if v.key.port not in bad_ports])
    links = sw.links()
    pushes: list[tuple[VlanAttachment, int, int, bool]] = []  # (attachment, shim, port, shim is new)
    for v in done:
        a = v.key
        port = links.get(a.port)
        if v.peer is None or port is None:
            run.error(v.label, f"port {a.port} vanished")
            continue
        trunks[a.port][a.vlan] = v.peer.index
        pushes.append((a, v.peer.index, port.index, v.new))
    slots = qdisc_slots(sw)
    programs(run, sw, push_programs(pushes), slots)
    programs(run, sw, trunk_programs(run, trunks, links), slots)
    with run.guard("stale trunks"):
        remove_stale_trunks(run, sw, trunks, links, slots)


def qdisc_slots(sw: Namespace) -> dict[int, str]:
    """{ifindex: kind} of the qdisc in clsact's slot, for every device that has one (one dump)."""
    return {ifindex: kind for ifindex, _, kind in sw.rt.qdiscs(vlan_shim.CLSACT_PARENT)}


def push_programs(pushes: Sequence[tuple[VlanAttachment, int, int, bool]]) -> list[Program]:
    """A push program on every shim (checked with the batch of gets)."""
    return [
        Program(
            what=f"attachment {a.port} vlan {a.vlan}",
            ifindex=shim,
            name=vlan_shim.expected_push_name(a.vlan, port),
            record=None if new else ("changed", f"tc push {a.shim} vlan {a.vlan} -> {a.port}"),
            build=functools.partial(vlan_shim.push_program, a.vlan, port),
            prog_name=vlan_shim.PUSH_PROGRAM,
        )
        for a, shim, port, new in pushes
    ]


def trunk_programs(run: Run, trunks: dict[str, dict[int, int]], links: dict[str, KernelLink]) -> list[Program]:
    """A pop program on every trunk port (checked with a dump of its hook)."""
    todo: list[Program] = []
    for port_name, vlans in trunks.items():
        port = links.get(port_name)
        if port is None:
            continue
        what = f"tc pop {port_name} vlans {sorted(vlans)}"
        try:
            name = vlan_shim.expected_trunk_name(vlans)
        except ValueError as e:
            run.error(f"trunk {port_name}", e)
            continue
        todo.append(
            Program(
                what=f"trunk {port_name}",
                ifindex=port.index,
                name=name,
                record=("changed", what),
                build=functools.partial(vlan_shim.pop_program, dict(vlans)),
                prog_name=vlan_shim.POP_PROGRAM,
                dump=True,
            )
        )
    return todo


def programs(run: Run, sw: Namespace, todo: Sequence[Program], slots: dict[int, str]) -> None:
    """Make each program's hook right. Which shims are right already is asked with one batch of filter
    gets; a hook that is not (and every trunk port's) is read with one dump. A program whose writes did not
    apply (its hook changed under us) is looked at again and tried once more; only then is it an error."""
    quick = {p.ifindex: p.name for p in todo if not p.dump and slots.get(p.ifindex) == "clsact"}
    right = vlan_shim.check_named(sw.rt, quick) if quick else set()
    failed = _attach(run, sw, _wrong(sw, [p for p in todo if p.ifindex not in right], slots), report=False)
    if failed:
        _attach(run, sw, _wrong(sw, failed, qdisc_slots(sw)), report=True)


def _wrong(
    sw: Namespace, todo: Sequence[Program], slots: dict[int, str]
) -> list[tuple[Program, str | None, vlan_shim.Hook]]:
    """(program, kind of the qdisc in clsact's slot, ingress hook) of the programs whose hook is not right."""
    out = []
    for p in todo:
        slot = slots.get(p.ifindex)
        hook = EMPTY_HOOK
        if slot == "clsact":
            hook = vlan_shim.read_hook(sw.rt, p.ifindex)
            if hook.right(p.name):
                continue
        out.append((p, slot, hook))
    return out


def _attach(
    run: Run, sw: Namespace, todo: Sequence[tuple[Program, str | None, vlan_shim.Hook]], *, report: bool
) -> list[Program]:
    """Load the programs and commit their hooks' writes, `PROGRAM_BATCH` at a time; the programs whose
    writes did not all apply."""
    failed: list[Program] = []
    for i in range(0, len(todo), PROGRAM_BATCH):
        chunk = todo[i : i + PROGRAM_BATCH]
        fds: list[int] = []
        writes: list[KernelWrite] = []
        try:
            for p, slot, hook in chunk:
                try:
                    fd = load_program(p.build(), p.prog_name)
                except Exception as e:
                    run.error(p.what, e)
                    continue
                fds.append(fd)
                writes += vlan_shim.attach_writes(
                    sw.name, p.ifindex, fd, p.name, slot=slot, hook=hook, what=p.what, key=id(p), record=p.record
                )
            bad = failed_keys(run.commit(writes, report=report))
        finally:
            for fd in fds:
                os.close(fd)  # a filter holds its own reference to its program
        failed += [p for p, _, _ in chunk if id(p) in bad]
    return failed


def remove_stale_trunks(
    run: Run, sw: Namespace, trunks: dict[str, dict[int, int]], links: dict[str, KernelLink], slots: dict[int, str]
) -> None:
    """A port that carried attachments and has none now: drop our pop program. Only ports with a clsact
    qdisc can have one, which spares a tc dump per port."""
    wanted_ports = {a.port for a in run.desired.attachments}
    by_index = {link.index: link for link in links.values()}
    writes: list[KernelWrite] = []
    for ifindex, kind in slots.items():
        link = by_index.get(ifindex)
        if kind != "clsact" or link is None:
            continue
        if link.name in trunks or link.name in wanted_ports or owned(link):
            continue
        hook = vlan_shim.read_hook(sw.rt, ifindex)
        state = hook.state()
        if state is None or state.kind != "pop":
            continue
        writes += vlan_shim.detach_writes(
            sw.name,
            ifindex,
            hook,
            egress_busy=vlan_shim.egress_busy(sw.rt, ifindex),
            what=f"trunk {link.name}: remove pop program",
            record=("removed", f"tc pop {link.name}"),
        )
    run.commit(writes)
