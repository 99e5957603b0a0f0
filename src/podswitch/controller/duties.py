"""Background duties: what one controller of several on a database does for all of them.

Every controller process announces itself every `interval` (address, the revision its snapshot is at, whether
it leads) and tries for the duties lease (store.cluster.Lease). The one holding it:
- watches the agents: a switch whose agent has not reported for `silent_after` is logged once as silent and
  counted; each switch's lag (revisions between the head and what its agent applied) is exported;
- prunes history down to the newest `keep_revisions`, never past what a live controller may still replay;
- warms the compile cache with each new revision, so the first agent to ask does not wait for the compile.
Every duty is safe to run twice: a leader that lost its database session without noticing yet does no harm.
A duty's failure is logged and retried on the next round; it never stops the API."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..store.cluster import ControllerRecord, Lease, forget_departed, heartbeat, leave, prune_history
from . import metrics
from .core import Controller

log = logging.getLogger(__name__)

KEEP_REVISIONS_ENV = "PODSWITCH_HISTORY_KEEP"


@dataclass(frozen=True)
class DutySettings:
    interval: float = 1.0  # s between rounds (heartbeat, lease check)
    keep_revisions: int = 100_000  # history kept (revisions); 0 keeps everything
    prune_every: float = 60.0  # s between prunes
    silent_after: float = 90.0  # s without an agent report before its switch counts as silent (3 resyncs)
    departed_after: float = 600.0  # s without a heartbeat before a controller's record is dropped

    @classmethod
    def from_env(cls) -> DutySettings:
        keep = os.environ.get(KEEP_REVISIONS_ENV)
        return cls(keep_revisions=int(keep)) if keep else cls()


class Duties:
    """One controller's share of the background work (the module's docstring); `round()` is one beat."""

    def __init__(
        self,
        ctl: Controller,
        address: str,
        settings: DutySettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ctl = ctl
        self.settings = settings or DutySettings.from_env()
        self._clock = clock
        self._lease = Lease(ctl.store)
        now = clock()
        self.record = ControllerRecord(
            id=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
            address=address,
            revision=ctl.snapshot().revision,
            leader=False,
            started_at=now,
            seen_at=now,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0
        self._silent: set[str] = set()
        self._watched: set[str] = set()
        # When this controller first watched each switch while leading: one never heard from is silent only
        # `silent_after` later (else every fresh start, and every new switch, would be reported at once).
        self._watched_since: dict[str, datetime] = {}
        self._failing: set[str] = set()
        self._warmed = -1

    @property
    def leading(self) -> bool:
        return self.record.leader

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="podswitch-duties", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._lease.release()
        metrics.LEADER.set(0)
        try:
            leave(self.ctl.store, self.record.id)
        except Exception as exc:  # the database may be what is failing; the record then just ages out
            log.warning("could not sign off from the store: %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.round()
            self._stop.wait(self.settings.interval)

    def round(self) -> None:
        """One round: announce, lead or follow, and if leading run what is due. Never raises."""
        # Followers too stay near the head (not only when asked): their heartbeat's revision is what holds
        # history back from pruning.
        self._step("catch-up", lambda: self.ctl.refresh(wait=0), None)
        leading = self._step("lease", self._lease.hold, False)
        if leading != self.record.leader:
            metrics.LEADER_CHANGES.inc()
            log.warning("%s the background duties (%s)", "took" if leading else "lost", self.record.id)
        metrics.LEADER.set(1 if leading else 0)
        self.record = replace(self.record, leader=leading, revision=self.ctl.snapshot().revision, seen_at=self._clock())
        self._step("heartbeat", lambda: heartbeat(self.ctl.store, self.record), None)
        if not leading:
            return
        self._step("agent liveness", self.watch_agents, None)
        self._step("cache warming", self.warm, None)
        now = self._clock().timestamp()
        if self.settings.keep_revisions and now >= self._next_prune:
            self._next_prune = now + self.settings.prune_every
            self._step("history pruning", self.prune, None)

    def _step(self, what: str, duty: Callable[[], Any], failed: Any) -> Any:
        """Run one duty; a failure is counted every time and logged when it starts and ends (a database
        outage would otherwise log every second)."""
        try:
            result = duty()
        except Exception as exc:
            metrics.DUTY_FAILURES.labels(duty=what).inc()
            if what not in self._failing:
                self._failing.add(what)
                log.warning("%s failed (retried every round, logged again when it works): %s", what, exc)
            return failed
        if what in self._failing:
            self._failing.discard(what)
            log.info("%s works again", what)
        return result

    def watch_agents(self) -> None:
        snap = self.ctl.snapshot()
        compiled = self.ctl.compiled()
        statuses = self.ctl.switch_statuses()
        now = self._clock()
        silent: set[str] = set()
        for name in snap.intent.topology.switches:
            raw = statuses.get(name)
            since = self._watched_since.setdefault(name, now)
            seen = datetime.fromisoformat(raw["seen"]) if raw else since
            if (now - seen).total_seconds() > self.settings.silent_after:
                silent.add(name)
            status = raw["status"] if raw else {}
            applied = status.get("applied_revision")
            in_sync = status.get("etag") is not None and status.get("etag") == compiled.etag(name)
            lag = 0 if in_sync else snap.revision - applied if isinstance(applied, int) else snap.revision
            metrics.AGENT_LAG.labels(switch=name).set(lag)
        for gone in self._watched - set(snap.intent.topology.switches):
            metrics.AGENT_LAG.remove(gone)
            self._watched_since.pop(gone, None)
        self._watched = set(snap.intent.topology.switches)
        for name in sorted(silent - self._silent):
            never = "" if name in statuses else " (none ever)"
            log.warning(
                "switch %s: no report from its agent for over %.0f s%s", name, self.settings.silent_after, never
            )
        for name in sorted(self._silent - silent):
            log.info("switch %s: its agent reports again", name)
        self._silent = silent
        metrics.AGENTS_SILENT.set(len(silent))

    def warm(self) -> None:
        """`Controller.warm` once per new revision (asking every round would count a cache hit each time)."""
        revision = self.ctl.snapshot().revision
        if revision != self._warmed:
            self.ctl.warm()
            self._warmed = revision

    def prune(self) -> int:
        settings = self.settings
        forget_departed(self.ctl.store, timedelta(seconds=settings.departed_after), self._clock())
        pruned = prune_history(
            self.ctl.store,
            keep=settings.keep_revisions,
            alive_within=timedelta(seconds=settings.departed_after),
            now=self._clock(),
        )
        if pruned:
            metrics.PRUNED.inc(pruned)
            log.info("pruned %d revisions of history (keeping %d)", pruned, settings.keep_revisions)
        return pruned
