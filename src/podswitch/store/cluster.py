"""What controllers sharing one database know of each other: who is alive at which revision, who leads the
background duties, and how far back history is kept.

Leadership is a lease the database itself guards. On PostgreSQL it is a session-level advisory lock held on
a connection of its own: the server drops it the moment that session ends, so a leader killed with -9 loses
it as soon as its TCP connection closes, with no lease timeout to wait out, and two sessions can never hold it
at once. On SQLite (one host by nature) it is an exclusive `flock` on a file beside the database, which the
kernel drops when the process dies. A leader that loses its connection learns so on its next check and stops
leading; the duties it runs are safe to run twice, so the moment in between does no harm."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from .engine import writing
from .schema import change, controller, revision
from .store import HEAD, Store

log = logging.getLogger(__name__)

# Any fixed 64-bit number, the same in every podswitch process (migrate.py uses ...0001).
_PG_DUTIES_LOCK = 0x706F_6473_7769_0002
# What one pruning transaction deletes at most: short transactions keep writers and readers flowing (on SQLite
# the pruning holds the one write lock). A single revision of more changes (a 100k replace) goes alone.
PRUNE_BATCH = 500  # revisions
PRUNE_ROWS = 50_000  # changes


class Lease:
    """The duties lease of one controller process (see the module's docstring)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def hold(self) -> bool:
        """Take the lease if it is free, or check that it is still ours. True while this process leads."""
        if self._store.dialect == "sqlite":
            return self._hold_file()
        return self._hold_pg()

    def _hold_pg(self) -> bool:
        conn = self._conn
        if conn is not None:
            try:
                conn.execute(text("SELECT 1")).scalar()
                conn.commit()
                return True
            except DBAPIError as exc:  # the session is gone, and the lock with it
                log.warning("lost the duties lease: %s", exc.orig)
                self._drop_conn()
                return False
        try:
            conn = self._store.engine.connect()
        except DBAPIError:
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_DUTIES_LOCK}).scalar())
            conn.commit()  # a session lock outlives the transaction that took it
        except DBAPIError:
            conn.invalidate()
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _drop_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()  # never hand a session that may still hold the lock back to the pool
                conn.close()

    def _hold_file(self) -> bool:
        if self._file is not None:
            return True
        database = self._store.engine.url.database
        if not database or database == ":memory:":
            return True  # one process by construction
        path = Path(database).with_name(Path(database).name + ".leader")
        handle = path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_DUTIES_LOCK})
                self._conn.commit()
            self._drop_conn()
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


@dataclass(frozen=True)
class ControllerRecord:
    id: str
    address: str
    revision: int
    leader: bool
    started_at: datetime
    seen_at: datetime


def heartbeat(store: Store, record: ControllerRecord) -> None:
    """Record that this controller is alive, where it answers and the revision its snapshot is at."""
    values = {
        "id": record.id,
        "address": record.address,
        "revision": record.revision,
        "leader": record.leader,
        "started_at": record.started_at,
        "seen_at": record.seen_at,
    }
    stmt = (sqlite.insert if store.dialect == "sqlite" else postgresql.insert)(controller).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[controller.c.id],
        set_={name: stmt.excluded[name] for name in ("address", "revision", "leader", "seen_at")},
    )
    with writing(store.engine) as conn:
        conn.execute(stmt)


def leave(store: Store, controller_id: str) -> None:
    """A controller that stops cleanly says so: it no longer holds history back."""
    with writing(store.engine) as conn:
        conn.execute(delete(controller).where(controller.c.id == controller_id))


def controllers(store: Store) -> list[ControllerRecord]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(controller).order_by(controller.c.started_at, controller.c.id)).all()
    return [ControllerRecord(r.id, r.address, r.revision, r.leader, r.started_at, r.seen_at) for r in rows]


def forget_departed(store: Store, silent_for: timedelta, now: datetime | None = None) -> int:
    """Drop the records of controllers silent for longer than `silent_for` (killed, not stopped): they
    would otherwise hold history back forever. Returns how many."""
    cutoff = (now or datetime.now(UTC)) - silent_for
    with writing(store.engine) as conn:
        return conn.execute(delete(controller).where(controller.c.seen_at < cutoff)).rowcount or 0


def oldest_kept(store: Store) -> int | None:
    """The oldest revision whose changes are still stored (None before the first)."""
    with store.engine.connect() as conn:
        return conn.execute(select(func.min(revision.c.revision))).scalar()


def prune_history(store: Store, *, keep: int, alive_within: timedelta, now: datetime | None = None) -> int:
    """Delete the oldest revisions and their changes, keeping the newest `keep` and every revision a live
    controller (seen within `alive_within`) may still have to replay: nothing at or after the lowest
    revision such a controller reports. Returns how many revisions were deleted. Runs in short batches."""
    cutoff = (now or datetime.now(UTC)) - alive_within
    with store.engine.connect() as conn:
        head = conn.execute(HEAD).scalar_one()
        lagging = conn.execute(select(func.min(controller.c.revision)).where(controller.c.seen_at >= cutoff)).scalar()
    horizon = head - keep + 1  # keep revisions >= horizon
    if lagging is not None:
        horizon = min(horizon, lagging + 1)  # it replays changes after its revision
    deleted = 0
    while True:
        with writing(store.engine) as conn:
            oldest = conn.execute(select(func.min(revision.c.revision))).scalar()
            if oldest is None or oldest >= horizon:
                return deleted
            upto = _batch_end(conn, oldest, min(horizon, oldest + PRUNE_BATCH))
            conn.execute(delete(change).where(change.c.revision < upto))
            deleted += conn.execute(delete(revision).where(revision.c.revision < upto)).rowcount or 0


def _batch_end(conn: Connection, oldest: int, limit: int) -> int:
    """The revision before which one batch ends: at most `limit`, and no more than PRUNE_ROWS changes (but
    at least the oldest revision, however large)."""
    counts = conn.execute(
        select(revision.c.revision, revision.c.change_count)
        .where(revision.c.revision >= oldest, revision.c.revision < limit)
        .order_by(revision.c.revision)
    ).all()
    rows = 0
    for number, count in counts:
        rows += count
        if rows > PRUNE_ROWS and number > oldest:
            return int(number)
    return limit


__all__ = [
    "PRUNE_BATCH",
    "PRUNE_ROWS",
    "ControllerRecord",
    "Lease",
    "controllers",
    "forget_departed",
    "heartbeat",
    "leave",
    "oldest_kept",
    "prune_history",
]
