"""The controller's unit of work: every change to the intent goes through `Controller.commit`.

Readers take `snapshot()` (an immutable intent and its revision) and never block. Writers are serialized
twice: by one lock in this process, and by the store's fabric-wide write lock shared by every controller on
the same database. A write is computed on the current snapshot without holding the store's lock; if
another controller committed in the meantime, the writer catches up *under* the store's lock (nobody can
commit in between) and computes the change again on exactly the state it then commits onto, so validation
always sees the state the change lands on and a conflict between controllers never reaches the client.

Catching up with other controllers replays the changes they committed, read in one consistent transaction
with the head they lead to, in one `model.Edit` (O(changes), not O(changes x intent)). Requests that find the
snapshot behind start a catch-up in the background and wait briefly for it: a small gap is closed before
they answer; a large one (another controller replaced 100,000 objects) is served from the last snapshot
until the catch-up is done, so reads and health never stall behind it.

When the database fails (stopped, unreachable, full, read-only) every operation that needs it raises
`StoreUnavailable` (the API answers 503, or 507 when full) and nothing else changes: the snapshot stays what
was last committed or caught up, reads and agents are served from it, and the next request that reaches the
database finds it back. No thread dies of it and no retry loop runs: the store's `Health` logs each change
once, and while reads find the database down, requests ask it again at most every `PROBE_INTERVAL`."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..config import Plan, parse, plan
from ..fabric import Compiled, allocate, formats, merged
from ..fabric.allocate import AllocKey
from ..fabric.state import FORMAT, Sync
from ..gc_pause import gc_paused
from ..model import (
    Change,
    Delete,
    Edit,
    Intent,
    IntentError,
    Key,
    Kind,
    Model,
    NotFound,
    Operation,
    Problem,
    Put,
    diff,
    validate,
)
from ..store import CatchUp, RevisionInfo, Store, StoreUnavailable, prepare_rows
from ..store.cluster import ControllerRecord, controllers, oldest_kept
from . import metrics
from .compiled import CompileCache, OlderStates
from .errors import RevisionMismatch
from .operations import OperationError, apply_operations, locate
from .reports import StatusReports

log = logging.getLogger(__name__)

_ALLOCATING = {Kind.SWITCH, Kind.LINK, Kind.TENANT, Kind.SEGMENT}

# How long a request waits for a catch-up it started before answering from the last snapshot (s).
CATCH_UP_WAIT = 0.5
# A revision of this many changes or more (a replace, a restore, a catch-up with one) leaves up to ~10^6 new
# long-lived objects, which each of the cyclic GC's later full collections would walk again: 0.5-2 s during
# which every request and long-poll stands still (measured at 100,000 endpoints). They are frozen instead,
# as the intent loaded at start is. Frozen objects are still freed when their last reference goes (the
# intent is acyclic); only cyclic garbage that happens to exist at that moment is never collected.
FREEZE_AFTER = 10_000

# While reads find the database down, how often a request asks it again (s); the others are served from the
# snapshot at once instead of each waiting for a connection attempt (seconds, when it is unreachable).
PROBE_INTERVAL = 1.0


@dataclass(frozen=True)
class Snapshot:
    """One revision of the intent with the numbers allocated for it (VNIs, indexes), swapped as one: a
    reader never pairs an intent with another revision's allocation."""

    revision: int
    intent: Intent
    allocation: Mapping[AllocKey, int]


@dataclass(frozen=True)
class Outcome:
    """What a write did: the new revision (None when nothing changed) and the changes or plan."""

    revision: int
    info: RevisionInfo | None
    changes: list[Change]
    plan: Plan | None = None

    @property
    def changed(self) -> bool:
        return self.info is not None


@dataclass(frozen=True)
class StoreStatus:
    """What `/healthz` says of the database: its head (None when it did not answer) and its fault, if any."""

    head: int | None
    fault: StoreUnavailable | None
    since: datetime  # when the fault began, or ended

    @property
    def up(self) -> bool:
        return self.fault is None


@dataclass(frozen=True)
class Delta:
    """A desired state as a change (`fabric.delta.DesiredDelta`'s JSON) to the state an agent holds."""

    base: str  # the validator (unquoted ETag) of the document it applies to, as the agent sent it
    json: bytes


# A change to the intent: the new intent, computed from the snapshot it applies to.
ChangeFn = Callable[[Snapshot], Intent]


@dataclass
class _Work:
    new: Intent
    changes: list[Change]


class Controller:
    def __init__(
        self,
        store: Store,
        *,
        catch_up_wait: float = CATCH_UP_WAIT,
        cache_compiles: bool = True,
        sync: Sync | None = None,
    ) -> None:
        """`cache_compiles=False` compiles every desired-state request from scratch: only for measuring what
        the cache saves (the storm benchmark's naive controller). `sync`: the hints every desired-state
        document gives its agent (format 2 on; default `Sync()`)."""
        self.store = store
        self.reports = StatusReports(store)
        self.sync = sync if sync is not None else Sync()
        self._older = OlderStates()
        self.catch_up_wait = catch_up_wait
        self._write = threading.Lock()
        self._catching_up: threading.Event | None = None
        self._catch_up_guard = threading.Lock()
        self._cache = CompileCache(enabled=cache_compiles)
        self._listeners: list[Callable[[int], None]] = []
        store.health.on_fault = metrics.store_fault
        revision, intent = store.load()
        # The loaded intent lives as long as the process: keep the cyclic GC from walking its ~10^6 objects
        # on every later full collection.
        gc.freeze()
        self._snap = Snapshot(revision, intent, store.load_allocations())
        metrics.set_intent(revision, intent)

    # ---- reading --------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self._snap

    def listen(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """Call `callback(revision)` whenever the snapshot moves to a new revision (a commit here or a catch-up
        with another controller's). It runs on the thread that moved it, under the write lock: it must only
        hand the news on (e.g. `loop.call_soon_threadsafe`). Returns a function that stops the calls."""
        self._listeners.append(callback)

        def stop() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return stop

    def _publish(self, revision: int) -> None:
        for callback in list(self._listeners):
            try:
                callback(revision)
            except Exception:  # a listener's failure is its own; the write has happened
                log.exception("revision listener failed")

    def refresh(self, wait: float | None = None) -> Snapshot:
        """Catch up with revisions other controller processes committed to the shared store: one cheap
        query when nothing changed; otherwise a catch-up in the background, waited for at most `wait`
        seconds (default `catch_up_wait`) before answering with whatever snapshot is current then."""
        snap = self._snap
        if self.store.health.reads_failing_within(PROBE_INTERVAL):
            return snap
        try:
            head = self.store.head()
        except StoreUnavailable:  # logged by the store's health; serve what we have
            return snap
        if head == snap.revision:
            return snap
        done = self._start_catch_up()
        done.wait(self.catch_up_wait if wait is None else wait)
        return self._snap

    def _start_catch_up(self) -> threading.Event:
        with self._catch_up_guard:
            running = self._catching_up
            if running is not None and not running.is_set():
                return running
            done = self._catching_up = threading.Event()
        threading.Thread(target=self._catch_up_worker, args=(done,), name="podswitch-catch-up", daemon=True).start()
        return done

    def _catch_up_worker(self, done: threading.Event) -> None:
        try:
            with self._write:
                self._catch_up_locked(self.store.catch_up(self._snap.revision))
        except StoreUnavailable:  # logged once by the store's health; the next request tries again
            pass
        except Exception:  # the next request tries again; this one is served from the last snapshot
            log.exception("catching up with the store failed")
        finally:
            done.set()

    def _catch_up_locked(self, catch_up: CatchUp) -> Snapshot:
        """Adopt what another controller committed (caller holds the write lock)."""
        snap = self._snap
        if catch_up.head <= snap.revision:
            return snap
        if not catch_up.complete:
            return self._reload_locked(snap)
        started = time.perf_counter()
        with gc_paused():
            intent = Edit(snap.intent).apply(change for _, change in catch_up.changes).finish()
        # Keep the very same allocation object when it did not change: the compiler reuses its work by identity.
        allocation = snap.allocation if catch_up.allocations == snap.allocation else catch_up.allocations
        self._snap = Snapshot(catch_up.head, intent, allocation)
        metrics.set_intent(catch_up.head, intent)
        if len(catch_up.changes) >= FREEZE_AFTER:
            gc.freeze()
        self._publish(catch_up.head)
        metrics.CATCH_UP_SECONDS.observe(time.perf_counter() - started)
        log.info(
            "caught up from revision %d to %d (%d changes) in %.3fs",
            snap.revision,
            catch_up.head,
            len(catch_up.changes),
            time.perf_counter() - started,
        )
        return self._snap

    def _reload_locked(self, snap: Snapshot) -> Snapshot:
        """History this controller would replay was pruned while it was away: read the intent whole. Under
        the store's write lock (a writer's catch-up) the head read here is the one the writer holds."""
        started = time.perf_counter()
        revision, intent = self.store.load()
        self._snap = Snapshot(revision, intent, self.store.load_allocations())
        self._publish(revision)
        metrics.set_intent(revision, intent)
        metrics.CATCH_UP_SECONDS.observe(time.perf_counter() - started)
        log.warning("history after revision %d was pruned: reloaded the intent at %d whole", snap.revision, revision)
        return self._snap

    def compiled(self, *, refresh: bool = False) -> Compiled:
        """The desired state of every switch at the current snapshot (compiled once per revision); with
        `refresh`, first caught up with the store as `refresh()` does."""
        snap = self.refresh() if refresh else self._snap
        return self._cache.get(snap.intent, snap.allocation, snap.revision)

    def warm(self) -> None:
        """Compile the current revision now, if compiles are cached: a controller that comes back has it
        ready when its agents ask (or nearly: they wait for this compile, not start their own)."""
        if self._cache.enabled:
            self.compiled()

    def desired_state(self, switch: str, format: int = FORMAT, *, refresh: bool = False) -> formats.Served | None:
        """The switch's desired state at the current snapshot (with `refresh`, caught up first), in `format`
        (see `fabric.formats.negotiate` for which one an agent gets); None for a switch that has none."""
        return self._served(self.compiled(refresh=refresh), switch, format)

    def desired_delta(
        self, switch: str, held: Iterable[str], format: int = FORMAT, *, refresh: bool = False
    ) -> tuple[formats.Served | None, Delta | None]:
        """`desired_state`, and the change to it as a delta (`fabric.delta`) against the first of the `held`
        validators (ETag values, unquoted) that names a state this controller still has in outline, both of
        the same compile. The delta is None unless `format` is this release's, the document is not one of
        `held` (that is a 304), and a held validator has the document's format and hints (`Served.held_state`)."""
        compiled = self.compiled(refresh=refresh)
        document = self._served(compiled, switch, format)
        if document is None or format != FORMAT:
            return document, None
        held = [tag for tag in held if tag]
        if document.validator() in held:
            return document, None
        for tag in held:
            state = document.held_state(tag)
            delta = None if state is None else compiled.delta(switch, state, self.sync)
            if delta is not None:
                return document, Delta(tag, delta)
        return document, None

    def _served(self, compiled: Compiled, switch: str, format: int) -> formats.Served | None:
        entry = compiled.switches.get(switch)
        if entry is None:
            return None
        document = formats.current(compiled.revision, entry.etag, entry.document, self.sync)
        if format == FORMAT:
            return document
        envelope = formats.downgrade_envelope(document.envelope, format)
        return formats.Served(envelope, self._older.get(switch, entry, format))

    def store_revision(self) -> int:
        return self.store.head()

    def store_status(self) -> StoreStatus:
        """The database's head and health, for health checks: asks it at most every `PROBE_INTERVAL` while
        reads find it down, and never raises for a fault of the database."""
        health = self.store.health
        head: int | None = None
        if not health.reads_failing_within(PROBE_INTERVAL):
            with contextlib.suppress(StoreUnavailable):  # the status says so
                head = self.store.head()
        return StoreStatus(head, health.fault, datetime.fromtimestamp(health.since, UTC))

    def history(self, limit: int = 50, before: int | None = None) -> list[RevisionInfo]:
        return self.store.history(limit=limit, before=before)

    def revision(self, number: int) -> RevisionInfo:
        return self.store.revision_info(number)

    def revision_changes(self, number: int, limit: int | None = None, offset: int = 0) -> list[Change]:
        return self.store.revision_changes(number, limit=limit, offset=offset)

    def switch_statuses(self) -> dict[str, dict[str, Any]]:
        return self.store.switch_statuses()

    def controllers(self) -> list[ControllerRecord]:
        """The controller processes announcing themselves on this store (see controller.duties)."""
        return controllers(self.store)

    def report_status(self, switch: str, body: dict[str, Any]) -> None:
        """Record what a switch's agent reports (observed state: not intent, not audited), grouped with the
        reports that arrive meanwhile (`reports`)."""
        self.reports.put(switch, body)

    def consistency_hash(self, origination: str) -> str | None:
        """The consistency hash this fabric and the orchestrator `origination` last agreed on (the BCF
        API's `X-BSN-BVS-HASH-MATCH`), kept in the store: every controller on it answers the same."""
        return self.store.consistency_hash(origination)

    def agree_consistency(self, origination: str, value: str) -> None:
        self.store.put_consistency_hash(origination, value)

    # ---- writing --------------------------------------------------------------------------------

    def commit(
        self,
        change: ChangeFn,
        *,
        actor: str,
        operation: str,
        summary: str = "",
        full_validation: bool = False,
        validated: bool = False,
        dry_run: bool = False,
        if_revision: int | None = None,
    ) -> Outcome:
        """Apply `change` to the current intent, validate, and store it as one new revision. With
        `if_revision`, only if the intent is still at that revision (optimistic concurrency). A dry run
        computes the plan on the current snapshot and takes no lock at all."""

        def prepare(base: Snapshot) -> _Work:
            if if_revision is not None and base.revision != if_revision:
                raise RevisionMismatch(if_revision, base.revision)
            new = change(base)
            changes = diff(base.intent, new)
            if not validated:
                validate(new, None if full_validation else [c.key for c in changes])
            return _Work(new, changes)

        if dry_run:
            base = self._snap
            with gc_paused():
                work = prepare(base)
                return Outcome(base.revision, None, work.changes, plan(base.intent, work.new))

        with self._write, gc_paused():
            if self.store.head() != self._snap.revision:
                self._catch_up_locked(self.store.catch_up(self._snap.revision))
            base = self._snap
            work = prepare(base)
            if not work.changes:
                return Outcome(base.revision, None, [])
            rows = prepare_rows(work.changes, base.revision + 1)
            started = time.perf_counter()
            with self.store.writer() as writer:
                if writer.head != base.revision:
                    # Another controller committed since the head was read: catch up under the store's
                    # lock and compute the change again on exactly what it will land on.
                    metrics.CONFLICTS.inc()
                    log.info("another controller committed revision %d first; recomputing", writer.head)
                    base = self._catch_up_locked(writer.catch_up(base.revision))
                    work = prepare(base)
                    if not work.changes:
                        return Outcome(base.revision, None, [])
                delta: dict[AllocKey, int | None] = {}
                if any(c.key.kind in _ALLOCATING for c in work.changes):
                    try:
                        delta = allocate(work.new, base.allocation)
                    except ValueError as exc:
                        raise IntentError(Problem("fabric", None, str(exc), "conflict")) from None
                info = writer.commit(
                    work.changes,
                    actor=actor,
                    operation=operation,
                    summary=summary or _summary(work.changes),
                    allocations=delta,
                    rows=rows,
                )
            metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
            assert info is not None
            allocation = merged(base.allocation, delta) if delta else base.allocation
            self._snap = Snapshot(info.revision, work.new, allocation)
            metrics.set_intent(info.revision, work.new)
            if len(work.changes) >= FREEZE_AFTER:
                gc.freeze()
            # Last: the agents' long-polls wake now, and their compile competes for the GIL with what follows.
            self._publish(info.revision)
            log.info("revision %d by %s: %s", info.revision, actor, info.summary)
            return Outcome(info.revision, info, work.changes)

    def transact(
        self,
        operations: Sequence[Operation],
        *,
        actor: str,
        if_revision: int | None = None,
        dry_run: bool = False,
        operation: str = "transaction",
        summary: str = "",
    ) -> Outcome:
        """Apply the operations in order as one revision, all or nothing. A refused operation raises
        OperationError with its index (also for problems found when validating the result)."""

        def change(base: Snapshot) -> Intent:
            return apply_operations(base.intent, operations)

        try:
            return self.commit(
                change,
                actor=actor,
                operation=operation,
                summary=summary,
                dry_run=dry_run,
                if_revision=if_revision,
            )
        except IntentError as exc:
            raise OperationError(locate(exc.problems, operations), exc) from None

    def put_object(self, key: Key, obj: Model, *, actor: str, create_only: bool = False) -> Outcome:
        return self._single(Put(key, obj, create_only), actor, "create" if create_only else "put")

    def delete_object(self, key: Key, *, actor: str, missing_ok: bool = False) -> Outcome:
        return self._single(Delete(key, missing_ok), actor, "delete")

    def _single(self, op: Operation, actor: str, operation: str) -> Outcome:
        try:
            return self.transact([op], actor=actor, operation=operation, summary=str(op.key))
        except OperationError as exc:
            raise exc.error from None

    def replace(self, text: str, *, actor: str, dry_run: bool = False, if_revision: int | None = None) -> Outcome:
        """Replace the whole intent with running-config text, all or nothing."""
        new = parse(text)  # ConfigError (line:column) before anything is touched
        return self.commit(
            lambda _: new, actor=actor, operation="replace", validated=True, dry_run=dry_run, if_revision=if_revision
        )

    def revert(self, revision: int, *, actor: str, dry_run: bool = False) -> Outcome:
        """Undo what `revision` changed, as a new revision. Refused (409) when an object it changed has
        been changed again since; restore to an earlier revision instead."""
        info = self.store.revision_info(revision)
        changes = self.store.revision_changes(revision)

        def change(base: Snapshot) -> Intent:
            intent = base.intent
            conflicts = [
                Problem(str(c.key), None, f"was changed again after revision {revision}", "conflict")
                for c in changes
                if intent.get(c.key) != c.after
            ]
            if conflicts:
                raise IntentError(conflicts)
            return Edit(intent).apply(_inverse(changes)).finish()

        return self.commit(
            change,
            actor=actor,
            operation="revert",
            summary=f"revert revision {revision} ({info.operation} by {info.actor})",
            dry_run=dry_run,
        )

    def restore(self, revision: int, *, actor: str, dry_run: bool = False) -> Outcome:
        """Bring the intent back to what it was right after `revision`, as a new revision."""
        if revision != 0:
            self.store.revision_info(revision)  # NotFound for an unknown (or pruned) revision
        elif (oldest_kept(self.store) or 1) > 1:
            raise NotFound("revision 0: the history before it was pruned; restore a revision still listed")
        # Everything after the target, read once; a base further ahead (another controller committed
        # meanwhile) reads only the rest.
        later: list[Change] = []
        read_upto = revision

        def change(base: Snapshot) -> Intent:
            nonlocal read_upto
            if base.revision > read_upto:
                later.extend(c for _, c in self.store.changes_between(read_upto, base.revision))
                read_upto = base.revision
            return Edit(base.intent).apply(_inverse(later)).finish()

        return self.commit(
            change,
            actor=actor,
            operation="restore",
            summary=f"restore revision {revision}",
            dry_run=dry_run,
        )


def _inverse(changes: Iterable[Change]) -> list[Change]:
    return [Change(c.key, c.after, c.before) for c in reversed(list(changes))]


def _summary(changes: list[Change]) -> str:
    if len(changes) == 1:
        c = changes[0]
        return f"{c.operation} {c.key}"
    counts = {"created": 0, "updated": 0, "deleted": 0}
    for c in changes:
        counts[c.operation + "d"] += 1
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n)
