"""Database faults as the rest of podswitch sees them: one exception, `StoreUnavailable`, whose `kind` says
what an operator can do about it, and `Health`, what the store found the last time it asked the database.

Only conditions of the database itself are faults: PostgreSQL stopped, unreachable or shutting down, a
connection lost, SQLite's disk full, a file that cannot be written, an I/O error, a lock held too long, no
free pooled connection. An error in what we asked (SQL, a constraint) is a bug or a `StoreError` and stays
what it is, so it can never hide behind "the database is down".

SQLite and PostgreSQL roll a failed transaction back, so a write that fails with a fault wrote nothing.
The one thing nobody can know is whether a COMMIT whose connection was lost landed: a controller finds
out from the head revision on its next request and catches up, so the state it serves stays consistent."""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)


class Fault(enum.StrEnum):
    UNREACHABLE = "unreachable"  # no connection: the server is stopped, unreachable, or dropped ours
    FULL = "full"  # no space for the write
    READ_ONLY = "read-only"  # the database or its files cannot be written
    FAILING = "failing"  # I/O errors, a damaged file: the database answers but cannot do the work
    BUSY = "busy"  # healthy but saturated: a lock or a pooled connection not had in time


# HTTP status the API answers with. 507 Insufficient Storage is exactly "the server cannot store what the
# request needs": a disk-full alert can be told from a database outage by status alone.
STATUS = {Fault.FULL: 507}
DEFAULT_STATUS = 503

# Retry-After (s): an outage or a busy moment may pass in seconds; a full or read-only disk needs a person,
# so clients come back less often (the client's own backoff adds its jitter on top).
RETRY_AFTER = {Fault.FULL: 5, Fault.READ_ONLY: 5}
DEFAULT_RETRY_AFTER = 2

# What is wrong, and what it means for the request (a request whose write failed for a full or read-only
# disk wrote nothing; one whose connection was lost cannot know, see the module doc).
_SAYS = {
    Fault.UNREACHABLE: ("the database is unreachable", "the controller reconnects by itself, try again later"),
    Fault.FULL: ("the database is full", "nothing was written (free space for the database, then retry)"),
    Fault.READ_ONLY: ("the database is read-only", "nothing was written"),
    Fault.FAILING: ("the database failed", "nothing was written, try again later"),
    Fault.BUSY: ("the database is busy", "try again later"),
}


class StoreUnavailable(Exception):
    """The database could not do what was asked, for a reason of its own (`kind`); see the module doc."""

    def __init__(self, kind: Fault, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        what, advice = _SAYS[kind]
        self.summary = f"{what}: {reason}"  # without the advice (e.g. for a controller that cannot start)
        super().__init__(f"{self.summary}; {advice}")

    @property
    def status(self) -> int:
        return STATUS.get(self.kind, DEFAULT_STATUS)

    @property
    def retry_after(self) -> int:
        return RETRY_AFTER.get(self.kind, DEFAULT_RETRY_AFTER)


# SQLite primary result codes (the low byte of `sqlite_errorcode`, Python >= 3.11).
_SQLITE = {
    3: Fault.READ_ONLY,  # SQLITE_PERM
    5: Fault.BUSY,  # SQLITE_BUSY: another writer held the lock past the busy timeout
    6: Fault.BUSY,  # SQLITE_LOCKED
    8: Fault.READ_ONLY,  # SQLITE_READONLY
    10: Fault.FAILING,  # SQLITE_IOERR (also what a write on an immutable file gives)
    11: Fault.FAILING,  # SQLITE_CORRUPT
    13: Fault.FULL,  # SQLITE_FULL
    14: Fault.FAILING,  # SQLITE_CANTOPEN
    26: Fault.FAILING,  # SQLITE_NOTADB
}

# PostgreSQL SQLSTATEs (exact, then by class).
_PG_STATE = {
    "53100": Fault.FULL,  # disk_full
    "53300": Fault.BUSY,  # too_many_connections
    "25006": Fault.READ_ONLY,  # read_only_sql_transaction: a hot standby
    "57P01": Fault.UNREACHABLE,  # admin_shutdown (pg_ctl stop -m fast terminates our sessions)
    "57P02": Fault.UNREACHABLE,  # crash_shutdown
    "57P03": Fault.UNREACHABLE,  # cannot_connect_now (starting up, shutting down)
}
_PG_CLASS = {"08": Fault.UNREACHABLE, "53": Fault.FAILING, "58": Fault.FAILING}


def classify(exc: BaseException) -> StoreUnavailable | None:
    """`exc` as a fault of the database, or None when it is not one (a bug, a constraint: not ours to hide)."""
    if isinstance(exc, sa_exc.TimeoutError):  # QueuePool: no connection free within pool_timeout
        return StoreUnavailable(Fault.BUSY, "no free database connection")
    orig: BaseException = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    kind: Fault | None = None
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        kind = _SQLITE.get(code & 0xFF) if isinstance(code, int) else None
    elif _is_psycopg(orig):
        state = getattr(orig, "sqlstate", None)
        if isinstance(state, str):
            kind = _PG_STATE.get(state) or _PG_CLASS.get(state[:2])
        elif type(orig).__name__ in ("OperationalError", "InterfaceError"):
            # No SQLSTATE: the server never answered (refused, timed out, closed the connection).
            kind = Fault.UNREACHABLE
    if kind is None and isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        kind = Fault.UNREACHABLE
    return None if kind is None else StoreUnavailable(kind, _reason(orig))


def _is_psycopg(exc: BaseException) -> bool:
    # Not imported: SQLite-only installs and the CLI's fast paths do without psycopg.
    return type(exc).__module__.startswith("psycopg")


def _reason(exc: BaseException) -> str:
    """The driver's own words, on one line (psycopg adds hints on further lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class Health:
    """What the store last found: `fault` is None while the database does what it is asked.

    A fault found by a read is cleared by the next operation that succeeds; one found by a write (a full or
    read-only disk, where reads still work) only by a write that succeeds. Transitions are logged once each,
    not every failed request. `on_fault` hears of every fault (the controller counts them as a metric)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fault: StoreUnavailable | None = None
        self.since = time.time()  # when `fault` began (or ended)
        self._failed_at = 0.0  # monotonic time of the last fault
        self._in_write = False
        self.on_fault: Callable[[StoreUnavailable], None] | None = None

    @property
    def up(self) -> bool:
        return self.fault is None

    def failed(self, fault: StoreUnavailable, *, writing: bool) -> None:
        if self.on_fault is not None:
            self.on_fault(fault)
        if fault.kind is Fault.BUSY:  # saturation, not a fault of the database
            return
        with self._lock:
            previous = self.fault
            self._failed_at = time.monotonic()
            # An unreachable database is cleared by any answer, whatever found it.
            self._in_write = writing and fault.kind is not Fault.UNREACHABLE
            self.fault = fault
            if previous is None or previous.kind is not fault.kind:
                self.since = time.time()
                log.warning("%s", fault)

    def succeeded(self, *, writing: bool) -> None:
        if self.fault is None:  # the common case: no lock
            return
        with self._lock:
            fault = self.fault
            if fault is None or (self._in_write and not writing):
                return
            self.fault = None
            log.warning("the database works again (it was %s for %.0fs)", fault.kind, time.time() - self.since)
            self.since = time.time()

    def reads_failing_within(self, seconds: float) -> bool:
        """A read found the database unusable less than `seconds` ago: callers that can do without it (a
        read served from the controller's snapshot) need not wait for another connection attempt."""
        return self.fault is not None and not self._in_write and time.monotonic() - self._failed_at < seconds

    @contextmanager
    def guard(self, *, writing: bool) -> Iterator[None]:
        """Run a database operation: a fault raises `StoreUnavailable` (and is recorded), success is recorded."""
        try:
            yield
        except StoreUnavailable:  # an operation nested in this one found and recorded it
            raise
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                raise
            self.failed(fault, writing=writing)
            raise fault from exc
        self.succeeded(writing=writing)
