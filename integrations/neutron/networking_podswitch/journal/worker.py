"""The journal's sender: one per process (`get()`), a thread that every commit wakes (`wake()`), and the
periodic tasks that ride on it (port status, consistency check, clean-up). Only the holder of the lease
sends, so several neutron-server processes never send the same rows twice at once.

Public surface (docs/neutron.md): `Journal.start()`, `stop()`, `wake()`, `run_once()` (one pass, for
tests and tools), `check()`, `reconcile_ports()`; `status.summary()` for what is pending."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from neutron_lib import context as n_context
from neutron_lib import worker as n_worker
from oslo_config import cfg

from podswitch.client import ApiError, Backoff, Client, PreconditionFailed, Unavailable

from .. import config
from . import consistency, lease, port_status, rows, send
from .dependencies import ready, waits_for
from .rows import Row

log = logging.getLogger(__name__)

WINDOW = 5  # pending rows looked at per batch, in batches (the dependency rule needs the older rows)
MAX_WINDOW = 100_000


@dataclass
class Pass:
    """What one pass did."""

    sent: int = 0
    refused: int = 0
    failed: int = 0
    leased: bool = True
    held: set[str] = field(default_factory=set)  # objects of rows refused in this pass: not again in it


class Journal:
    def __init__(self, conf: cfg.ConfigOpts = cfg.CONF, client: Client | None = None) -> None:
        config.register(conf)
        self.opts = conf[config.GROUP]
        self.settings = config.settings(conf)
        self.client = client or Client(
            self.opts.url,
            token=self.opts.token,
            actor="neutron",
            timeout=self.opts.timeout,
            connect_timeout=min(self.opts.timeout, 3.0),
            retries=0,  # the worker paces its own retries
        )
        self.holder = lease.holder_id()
        self.backoff = Backoff(base=self.opts.retry_min, cap=self.opts.retry_max)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_check = time.monotonic()
        self._last_cleanup = 0.0
        self.down_since: float | None = None
        self.port_waits = port_status.Reconciler()
        # What the passes did so far, for tests and tools: batches built (each reads Neutron for its rows),
        # probes of a controller known to be down (GET /healthz before building).
        self.counts: Counter[str] = Counter()

    # ---- the thread -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="podswitch-journal", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        try:
            lease.release(n_context.get_admin_context(), self.holder)
        except Exception:  # the database may be gone at shutdown; the lease expires by itself
            log.debug("journal: could not release the lease", exc_info=True)

    def lease_now(self) -> bool:
        """Take (or renew) the lease without sending: whether this process is the sender now."""
        return lease.acquire(n_context.get_admin_context(), self.holder, self.opts.lease)

    def wake(self) -> None:
        """New rows were committed: send them now rather than at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.opts.sync_interval
            try:
                done = self.run_once()
                if not done.leased:
                    # Another process sends (it sees our rows on its next pass): wake-ups here would only
                    # ask the database for the lease again and again. Look again when it could expire.
                    self._stop.wait(min(self.opts.lease, max(delay, self.opts.lease / 2)))
                    continue
                self.periodic()
                if self.down_since is not None:
                    log.info("journal: the controller answers again after %.1fs", time.monotonic() - self.down_since)
                    self.down_since = None
                self.backoff.reset()
            except (Unavailable, PreconditionFailed) as exc:
                delay = self.backoff.next(exc.retry_after)
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    log.warning("journal: %s; rows stay pending, retrying with backoff", exc)
                # Ignore wake-ups while backing off: new rows must not make us ask a failing controller harder.
                self._stop.wait(delay)
                continue
            except Exception:
                log.exception("journal: pass failed")
            self._wake.wait(delay)
            self._wake.clear()

    # ---- one pass -------------------------------------------------------------------------------

    def run_once(self) -> Pass:
        """Send every row that may go now, batch by batch, while holding the lease. Raises `Unavailable`
        when the controller cannot take them (they stay pending)."""
        context = n_context.get_admin_context()
        result = Pass()
        if not lease.acquire(context, self.holder, self.opts.lease):
            result.leased = False
            return result
        if self.down_since is not None:
            # While the controller is down, ask it (GET /healthz) before building a batch: building reads
            # Neutron for every row, and doing that on every retry loaded the database for nothing.
            self.counts["probed"] += 1
            self.client.revision()
        while not self._stop.is_set():
            batch = self._next_batch(context, result)
            if not batch:
                break
            self._send(context, batch, result)
            lease.acquire(context, self.holder, self.opts.lease)
        return result

    def _next_batch(self, context: Any, result: Pass) -> list[Row]:
        """The next rows that may go, looking further down the journal while the oldest rows all wait (rows
        about an object the controller refuses must not starve the rows behind them)."""
        size = WINDOW * self.opts.batch_size
        while True:
            pending, by_seq = rows.window(context, size, self.opts.retry_min, self.opts.retry_max)
            batch = [by_seq[p.seq] for p in ready(pending, time.time(), self.opts.batch_size, result.held)]
            if batch or len(pending) < size or size >= MAX_WINDOW:
                return batch
            size *= 4

    def _send(self, context: Any, batch: list[Row], result: Pass) -> None:
        queue: list[list[Row]] = [batch]
        while queue:
            part = queue.pop(0)
            self.counts["built"] += 1
            outcome = send.send(context, self.client, part, self.settings)
            if outcome.completed:
                rows.complete(context, [r.seq for r in outcome.completed], outcome.revision)
                port_status.sent(context, outcome.operations, outcome.revision)
                self.port_waits.sent()
                result.sent += len(outcome.completed)
            elif outcome.split:
                middle = len(part) // 2
                queue[0:0] = [part[:middle], part[middle:]]
            elif outcome.refused is not None:
                bad, error = outcome.refused
                result.refused += 1
                result.held.add(bad.object_id)
                if rows.refused(context, bad.seq, error, self.opts.max_attempts):
                    result.failed += 1
                    log.error("journal: %s failed for good after %d attempts: %s", bad, self.opts.max_attempts, error)
                else:
                    log.warning("journal: the controller refused %s: %s", bad, error)

                def waits(row: Row, bad: Row = bad) -> bool:  # a later row about it or below it waits
                    return row.seq > bad.seq and waits_for(row.object_id, row.parents, bad.object_id)

                queue = [[r for r in p if r.seq != bad.seq and not waits(r)] for p in [part, *queue]]
                queue = [p for p in queue if p]

    # ---- periodic tasks -------------------------------------------------------------------------

    def periodic(self) -> None:
        """The tasks that ride on a pass (call it holding the lease: right after `run_once` took it)."""
        context = n_context.get_admin_context()
        if self.opts.port_status:
            self.reconcile_ports()
        interval = self.opts.consistency_interval
        if interval and time.monotonic() - self._last_check >= interval:
            self._last_check = time.monotonic()
            self.check()
        if time.monotonic() - self._last_cleanup >= 60:
            self._last_cleanup = time.monotonic()
            rows.delete_completed(context, rows.now() - timedelta(seconds=self.opts.completed_retention))

    def check(self) -> consistency.Report:
        """One consistency pass now (under the lease; refused without it)."""
        context = n_context.get_admin_context()
        if not lease.acquire(context, self.holder, self.opts.lease):
            return consistency.Report("skipped", "another process holds the journal's lease")
        return consistency.check(context, self.client, self.settings, self.opts.repair_batch)

    def reconcile_ports(self) -> int:
        try:
            return self.port_waits.reconcile(n_context.get_admin_context(), self.client)
        except ApiError as exc:
            log.info("journal: port status not reconciled now: %s", exc)
            return 0


class JournalWorker(n_worker.BaseWorker):
    """The journal as a Neutron worker process (for deployments that send from the RPC/periodic workers
    rather than from the API processes: `[podswitch] journal_thread = false`)."""

    def __init__(self) -> None:
        super().__init__(worker_process_count=0)

    def start(self, **kwargs: Any) -> None:
        super().start(**kwargs)
        get().start()

    def stop(self) -> None:
        get().stop()

    def wait(self) -> None:
        pass

    @staticmethod
    def reset() -> None:
        pass


_JOURNAL: Journal | None = None
_LOCK = threading.Lock()


def get() -> Journal:
    """This process's journal (shared by the ML2 driver and the L3 plugin)."""
    global _JOURNAL
    with _LOCK:
        if _JOURNAL is None:
            _JOURNAL = Journal()
        return _JOURNAL


def reset() -> None:
    """Forget this process's journal (stopping it): tests, and a reconfigured process."""
    global _JOURNAL
    with _LOCK:
        if _JOURNAL is not None:
            _JOURNAL.stop()
        _JOURNAL = None
