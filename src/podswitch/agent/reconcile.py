"""Make a switch's kernel equal to its desired state: read, diff, apply only the difference.

`reconcile(desired, netns)` (or a long-lived `Reconciler`, which keeps its netlink handles between runs)
reads the kernel of the switch namespace and of its router-slice namespaces, compares it with the
`SwitchState`, and writes only what differs, with replace-style operations. Nothing that is already right
is flushed or recreated, so a second run against a correct kernel performs zero writes, and a restarted
agent drops no packet (DESIGN.md §4). One failing object does not stop the rest: its error is collected in
`Result.errors` and the run goes on.

This module only orders the work. One module per concern turns desired + observed state into writes, like
faucet's managers: `links` (the switch's links, sysctls, addresses, underlay routes), `bridges` (segment
bridges and VXLAN devices; the FDB), `attachments` (VLAN attachments and their tc programs), `slices`
(router slice namespaces, gateway legs, neighbours, slice routes) and `policy` (the slices' nftables). All
of their writes go through the run's `writes.Transaction` (see `run.Run`), the one write path.

A `Reconciler` remembers the last state it applied without an error. Asked for a scoped run
(`full=False`, what the agent does with a pushed change), it runs only the concerns that the difference to
that state touches (`scope`) and skips the rest — their reads included, which is most of a run's time. A
full run (the default; the agent's periodic drift repair) looks at everything.

Only podswitch-owned objects are ever removed (see `kernel` for the marks). Devices the state names that
already exist with the right kind are adopted (marked) rather than recreated; a device with a wanted name
but another kind that podswitch does not own is reported and left alone."""

from __future__ import annotations

import time

from ..fabric.state import SwitchState
from . import attachments, bridges, links, netns, policy, slices
from .kernel import DefaultOpener, Namespace, Opener, oper_state
from .run import Result, Run
from .scope import FULL, Scope, scope

__all__ = ["Reconciler", "Result", "reconcile"]


class Reconciler:
    """Reconciles one switch namespace; keeps handles on it and its slice namespaces between runs."""

    def __init__(self, netns_name: str | None, *, opener: Opener | None = None) -> None:
        self.netns = netns_name
        self.opener: Opener = opener if opener is not None else DefaultOpener()
        self._handles: dict[str | None, Namespace] = {}
        self._clean: SwitchState | None = None  # the last state applied without an error

    def __enter__(self) -> Reconciler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def handle(self, name: str | None) -> Namespace:
        h = self._handles.get(name)
        if h is not None and h.stale():  # deleted and recreated under us: the old socket sees a dead netns
            h.close()
            del self._handles[name]
            h = None
        if h is None:
            if name is not None and not netns.exists(name):
                raise FileNotFoundError(2, "network namespace does not exist", name)
            h = Namespace(name, self.opener)
            self._handles[name] = h
        h.forget_links()  # every run starts from a fresh read
        return h

    def drop(self, name: str) -> None:
        h = self._handles.pop(name, None)
        if h is not None:
            h.close()

    def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result:
        """Make the kernel equal to `desired`: everything (`full`), or only what changed since the last
        state applied without an error (any other run is full)."""
        started = time.perf_counter()
        todo = FULL if full else scope(self._clean, desired)
        run = Run(self, desired)
        self._clean = None  # until this run has ended cleanly
        try:
            _reconcile(run, todo)
        finally:
            run.result.writes = run.txn.writes
            run.result.scope = todo.describe()
            run.result.seconds = time.perf_counter() - started
        if not run.result.errors:
            self._clean = desired
        return run.result


def reconcile(desired: SwitchState, netns: str | None, *, opener: Opener | None = None) -> Result:
    """One-shot reconcile of the switch in namespace `netns` (None: the current namespace)."""
    with Reconciler(netns, opener=opener) as r:
        return r.reconcile(desired)


def _reconcile(run: Run, todo: Scope) -> None:
    try:
        sw = run.sw
    except Exception as e:
        run.error(f"switch namespace {run.netns}", e)
        return
    if todo.links:
        links.reconcile(run)  # its steps guard themselves
    if todo.bridges:
        with run.guard("segments"):  # per-segment errors are reported inside; this catches a failed read
            bridges.reconcile(run)
    if todo.attachments:
        with run.guard("attachments"):
            attachments.reconcile(run)
    if todo.slices is None or todo.slices:
        spaces = slices.reconcile(run, todo.slices)
        policy.reconcile(run, spaces)
    if todo.fdb:
        with run.guard("fdb"):  # after the slices: their gateway legs' MACs are pinned too
            bridges.reconcile_fdb(run)
    if todo.slices is None:
        with run.guard("stale slices"):
            slices.remove_stale(run)
    # Every link write dropped the cache, so this is either a fresh read or the one this run began with.
    state = sw.links()
    for port in run.desired.fabric_ports:
        run.result.links[port.ifname] = oper_state(state.get(port.ifname))
    for a in run.desired.attachments:
        run.result.links[a.port] = oper_state(state.get(a.port))
