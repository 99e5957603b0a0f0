"""The controller's unit of work: every change to the intent goes through `Controller.commit`.

One lock serializes writers in this process; the store's revision check serializes controllers that
share a database (a writer that lost the race catches up with `refresh` and tries again). Readers take
`snapshot()` — an immutable intent and its revision — and never block. Desired state is compiled lazily,
once per revision, reusing everything the change did not touch."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..config import Plan, parse, plan
from ..fabric import Compiled, allocate, compile, merged
from ..gc_pause import gc_paused
from ..model import (
    SYSTEM,
    Change,
    Intent,
    IntentError,
    InUse,
    Key,
    Kind,
    Model,
    NotFound,
    Problem,
    apply_changes,
    delete,
    diff,
    put,
    referrers,
    validate,
)
from ..store import RevisionInfo, StaleRevision, Store
from . import metrics

log = logging.getLogger(__name__)

_ALLOCATING = {Kind.SWITCH, Kind.LINK, Kind.TENANT, Kind.SEGMENT}


class RevisionMismatch(Exception):
    """The write was conditional on a revision (`If-Match`) that is no longer the current one: someone
    changed the intent since the client read or planned it, and nothing was written."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            f"the intent is at revision {current}, not {expected}: it changed since you read or "
            f"planned it; nothing was changed (read it again and re-plan)"
        )
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class Snapshot:
    revision: int
    intent: Intent


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


class Controller:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._write = threading.Lock()
        self._compile_lock = threading.Lock()
        revision, intent = store.load()
        # The loaded intent lives as long as the process: keep the cyclic GC from walking its ~10^6 objects
        # on every later full collection.
        gc.freeze()
        self._snap = Snapshot(revision, intent)
        self._alloc = store.load_allocations()
        self._compiled: Compiled | None = None
        metrics.set_intent(revision, intent)

    # ---- reading --------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self._snap

    def refresh(self) -> Snapshot:
        """Catch up with revisions another controller process committed to the shared store."""
        head = self.store.head()
        snap = self._snap
        if head == snap.revision:
            return snap
        with self._write:
            return self._catch_up()

    def _catch_up(self) -> Snapshot:
        snap = self._snap
        replay = self.store.changes_between(snap.revision)
        if replay:
            intent = apply_changes(snap.intent, (c for _, c in replay))
            self._snap = Snapshot(replay[-1][0], intent)
            self._alloc = self.store.load_allocations()
        else:
            head = self.store.head()
            if head != snap.revision:  # revisions with allocation changes only
                self._snap = Snapshot(head, snap.intent)
                self._alloc = self.store.load_allocations()
        metrics.set_intent(self._snap.revision, self._snap.intent)
        return self._snap

    def compiled(self) -> Compiled:
        snap = self._snap
        current = self._compiled
        if current is not None and current.revision == snap.revision:
            return current
        with self._compile_lock:
            current = self._compiled
            if current is None or current.revision != snap.revision:
                started = time.perf_counter()
                current = compile(snap.intent, self._alloc, snap.revision, current)
                metrics.COMPILE_SECONDS.observe(time.perf_counter() - started)
                self._compiled = current
            return current

    # ---- writing --------------------------------------------------------------------------------

    def commit(
        self,
        change: Callable[[Intent], Intent],
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
        `if_revision`, only if the intent is still at that revision (optimistic concurrency)."""
        for attempt in range(5):
            with self._write, gc_paused():
                base = self._snap
                if if_revision is not None and base.revision != if_revision:
                    raise RevisionMismatch(if_revision, base.revision)
                new = change(base.intent)
                changes = diff(base.intent, new)
                if not validated:
                    validate(new, None if full_validation else [c.key for c in changes])
                if dry_run:
                    return Outcome(base.revision, None, changes, plan(base.intent, new))
                if not changes:
                    return Outcome(base.revision, None, changes)
                delta = {}
                if any(c.key.kind in _ALLOCATING for c in changes):
                    try:
                        delta = allocate(new, self._alloc)
                    except ValueError as exc:
                        raise IntentError(Problem("fabric", None, str(exc), "conflict")) from None
                started = time.perf_counter()
                try:
                    info = self.store.commit(
                        changes,
                        expected_revision=base.revision,
                        actor=actor,
                        operation=operation,
                        summary=summary or _summary(changes),
                        allocations=delta,
                    )
                except StaleRevision:
                    log.info("another controller committed first; catching up (attempt %d)", attempt + 1)
                    self._catch_up()
                    continue
                metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
                assert info is not None
                self._alloc = merged(self._alloc, delta)
                self._snap = Snapshot(info.revision, new)
                metrics.set_intent(info.revision, new)
                log.info("revision %d by %s: %s", info.revision, actor, info.summary)
                return Outcome(info.revision, info, changes)
        raise IntentError(Problem("store", None, "the store kept changing under us; try again", "conflict"))

    def put_object(self, key: Key, obj: Model, *, actor: str, create_only: bool = False) -> Outcome:
        def change(intent: Intent) -> Intent:
            if create_only and intent.get(key) is not None:
                raise IntentError(Problem(str(key), None, "already exists", "conflict"))
            parent = key.parent
            if parent is not None and intent.get(parent) is None:
                raise NotFound(str(parent))
            return put(intent, key, obj)

        return self.commit(change, actor=actor, operation="create" if create_only else "put", summary=str(key))

    def delete_object(self, key: Key, *, actor: str, missing_ok: bool = False) -> Outcome:
        def change(intent: Intent) -> Intent:
            if intent.get(key) is None:
                if missing_ok:
                    return intent
                raise NotFound(str(key))
            if key.kind == Kind.TENANT and key.tenant == SYSTEM:
                raise IntentError(
                    Problem(
                        "tenant system",
                        None,
                        "the system tenant always exists; delete its logical-router or segments instead",
                        "conflict",
                    )
                )
            refs = referrers(intent, key)
            if refs:
                raise InUse(str(key), refs)
            return delete(intent, key)

        return self.commit(change, actor=actor, operation="delete", summary=str(key))

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

        def change(intent: Intent) -> Intent:
            conflicts = [
                Problem(str(c.key), None, f"was changed again after revision {revision}", "conflict")
                for c in changes
                if intent.get(c.key) != c.after
            ]
            if conflicts:
                raise IntentError(conflicts)
            return apply_changes(intent, _inverse(changes))

        return self.commit(
            change,
            actor=actor,
            operation="revert",
            full_validation=False,
            summary=f"revert revision {revision} ({info.operation} by {info.actor})",
            dry_run=dry_run,
        )

    def restore(self, revision: int, *, actor: str, dry_run: bool = False) -> Outcome:
        """Bring the intent back to what it was right after `revision`, as a new revision."""
        if revision != 0:
            self.store.revision_info(revision)  # NotFound for an unknown revision

        def change(intent: Intent) -> Intent:
            later = self.store.changes_between(revision, self._snap.revision)
            return apply_changes(intent, _inverse(c for _, c in later))

        return self.commit(
            change,
            actor=actor,
            operation="restore",
            full_validation=True,
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
