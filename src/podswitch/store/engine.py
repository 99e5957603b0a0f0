"""Engines for the two databases we support, set up so that transactions mean what they say.

SQLite: the stdlib driver normally issues BEGIN itself, lazily and only before DML, which breaks repeatable
reads and transactional DDL, and it can never issue BEGIN IMMEDIATE. We switch its transaction handling off
(isolation_level=None) and emit BEGIN ourselves from SQLAlchemy's "begin" event: a deferred BEGIN for readers,
BEGIN IMMEDIATE for writers (connection option `sqlite_begin="IMMEDIATE"`), so a writer takes the database's
write lock before it reads the head revision and two writers can never both think they are at head.

PostgreSQL: psycopg 3. A plain `postgresql://` URL is taken to mean psycopg 3 (psycopg2 is not installed)."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

# How long a writer waits for another writer's lock before failing (ms). A full replace of the largest
# supported fabric takes a few seconds; leave ample margin.
SQLITE_BUSY_TIMEOUT_MS = 60_000

# Page cache per connection (KiB, as SQLite's negative cache_size). Every pooled connection keeps its own
# cache, filled by whatever it read, for as long as it lives: at 64 MiB each, a controller that had served a
# few large reads and history requests grew by hundreds of MiB and never gave them back (measured: RSS up
# 35% over 14 PUT/restore cycles of 10,000 endpoints, flat with 2 MiB). So connections keep a small cache,
# and a write transaction — where a large cache does pay, keeping a 100,000-object commit's pages out of
# the WAL until it commits — raises it for its own duration and gives the memory back afterwards
# (`write_cache`).
SQLITE_CACHE_KIB = 2 * 1024
SQLITE_WRITE_CACHE_KIB = 64 * 1024

# synchronous=FULL: with WAL, NORMAL is already safe against a killed process (committed frames are in the
# OS page cache), but a power cut or kernel panic can lose the last commits. FULL fsyncs the WAL at every
# commit, so a write the API has acknowledged survives that too ("nothing accepted is ever lost"). Intent
# writes are rare and one fsync per commit is cheap next to the work of the commit itself.
SQLITE_SYNCHRONOUS = "FULL"


def normalize_url(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL) -> Engine:
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgresql_engine(parsed)
    raise ValueError(f"unsupported database {parsed.render_as_string(hide_password=True)}: use sqlite or postgresql")


# PostgreSQL that is stopped refuses a connection at once; one that is unreachable (a partition, a dead
# host) would leave a request waiting for TCP's own timeouts, minutes. These libpq settings bound that, so
# a request answers 503 within seconds whatever the failure: the connection attempt (s), unacknowledged
# data on an open connection (ms), and keepalives that notice a silent peer while we wait for an answer.
# A URL's own query parameters (`?connect_timeout=10`) win over these.
PG_CONNECT_ARGS: dict[str, int] = {
    "connect_timeout": 5,
    "tcp_user_timeout": 10_000,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}
# How long a request waits for a free pooled connection (s) before it is answered "busy" (503).
POOL_TIMEOUT = 10.0


def _postgresql_engine(url: URL) -> Engine:
    # pool_pre_ping: a connection the server dropped (a restart, pg_ctl stop) is noticed when it is taken
    # from the pool and replaced, along with every older one, so the controller recovers by itself when
    # the database is back. No statement_timeout: a catch-up or commit of a large fabric legitimately runs
    # for seconds, and a writer legitimately waits for another controller's commit.
    connect_args = {k: v for k, v in PG_CONNECT_ARGS.items() if k not in url.query}
    return create_engine(url, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT, connect_args=connect_args)


def _sqlite_engine(url: URL) -> Engine:
    kwargs: dict[str, Any] = {}
    memory = url.database in (None, "", ":memory:")
    if memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver (see module doc); SQLAlchemy's "begin" event below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                _set_wal(cursor)
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute("PRAGMA temp_store=MEMORY")
        finally:
            cursor.close()

    _WRITERS[engine] = threading.RLock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"bad sqlite_begin {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def write_options(engine: Engine) -> dict[str, str]:
    """The connection options of a writer: on SQLite, BEGIN IMMEDIATE (the write lock before the first read)."""
    return {"sqlite_begin": "IMMEDIATE"} if engine.dialect.name == "sqlite" else {}


# This process's SQLite writers take turns here before BEGIN IMMEDIATE. SQLite's own wait for its write
# lock (the busy timeout) sleeps 1, 2, 5, 10, 15, 20, 25, 50 ms between tries, so a write queued behind a few
# short ones (every agent's status report after a change) slept tens of ms for a lock that was free most of
# that time — on the path of the next intent write. A lock wakes the next writer the moment it is free;
# other processes on the same file are still met by the busy timeout. Reentrant, as SQLite is not: a
# nested writer fails as before instead of hanging.
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for one write transaction (the caller begins it): on SQLite, BEGIN IMMEDIATE and this
    process's turn to write (`_WRITERS`; after the busy timeout without one, SQLite's own wait decides)."""
    turn = _WRITERS.get(engine)
    has_turn = turn is not None and turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        with engine.connect().execution_options(**write_options(engine)) as conn:
            yield conn
    finally:
        if has_turn:
            assert turn is not None
            turn.release()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction (committed when the block ends without an exception)."""
    with write_connection(engine) as conn, conn.begin():
        yield conn


@contextmanager
def write_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a large page cache for the duration of one write transaction on `conn`, then the small one
    again with its memory released. A no-op on other databases."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute(f"PRAGMA cache_size=-{SQLITE_WRITE_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        raw.execute("PRAGMA shrink_memory")


def _set_wal(cursor: Any) -> None:
    """Switch a new database file to WAL. The switch needs the file to itself, and SQLite answers "database
    is locked" at once, without waiting on the busy timeout, when another connection (a second controller
    starting at the same moment) holds it: retry for up to the busy timeout. WAL is persistent, so this
    only ever waits on a brand-new file."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
