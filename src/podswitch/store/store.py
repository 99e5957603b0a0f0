"""The repository: the intent at head, its revisions with their audit trail, allocations and switch status.

Every commit is one database transaction that takes the fabric-wide write lock, checks that the caller saw
the current head (optimistic concurrency: the service computed its changes from that revision), writes the
objects, the revision row and one change row per object (before/after bodies), sets allocations and bumps
the head. Either all of that is durable or none of it is; a killed process, a lost connection or a failed
constraint leaves the previous revision untouched.

Bodies are the objects' own JSON (`model_dump_json`) and are parsed back with `model_validate_json`: the
model is the one source of truth for what an object looks like, and this module never looks inside."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Row,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ..gc_pause import gc_paused
from ..model import MODEL_OF, SYSTEM, Change, Intent, Key, Kind, NotFound, Tenant, build
from ..model.types import Model
from .engine import make_engine, write_cache, write_connection, writing
from .faults import Health, classify
from .migrate import upgrade
from .schema import allocation, change, fabric, intent_object, orchestrator, revision, switch_status

DATABASE_URL_ENV = "PODSWITCH_DATABASE_URL"
DB_FILE = "podswitch.db"

AllocationKey = tuple[str, str]  # (kind, key): the fabric compiler's namespace and name

_KIND = {kind.value: kind for kind in Kind}
_SYSTEM_TENANT = Key(Kind.TENANT, SYSTEM)
# The model's own validators, called directly (model_validate_json adds only a Python wrapper, which is
# measurable over 100k+ rows).
_PARSE = {kind.value: MODEL_OF[kind].__pydantic_validator__.validate_json for kind in Kind}


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    revision: int
    created_at: datetime  # aware, UTC
    actor: str
    operation: str
    summary: str
    change_count: int


class StaleRevision(Exception):
    """The caller's changes were computed from an older revision than the store's head; nothing was
    written. Reload (or replay `changes_between`) and try again."""

    def __init__(self, head: int, expected: int | None = None) -> None:
        self.head = head
        self.expected = expected
        seen = f"revision {expected}" if expected is not None else "an older revision"
        super().__init__(f"the fabric is at revision {head}, the change was made against {seen}")


# The head revision: read by every API request (`Controller.refresh`). One statement object, so SQLAlchemy
# builds and caches its key once instead of per request.
HEAD = select(fabric.c.revision).where(fabric.c.id == 1)


class StoreError(Exception):
    """The changes do not fit what is stored (an object created twice, a missing object updated or deleted,
    an allocated value already taken). A bug in the caller, never a user error; nothing was written."""


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What a controller at an older revision replays to reach `head` (see `Store.catch_up`)."""

    head: int
    changes: list[tuple[int, Change]]
    allocations: dict[AllocationKey, int]
    # False when history older than the revision asked for was pruned (the leader keeps what live
    # controllers need, but a controller that was away longer may find a gap): load the intent whole.
    complete: bool = True


class Writer:
    """One open write transaction under the fabric-wide lock (`Store.writer`)."""

    def __init__(self, store: Store, conn: Connection, head: int) -> None:
        self._store = store
        self._conn = conn
        self.head = head
        self._done = False

    def catch_up(self, after: int) -> CatchUp:
        """The changes since `after`, read under the lock: nobody can commit in between, so replaying them
        gives exactly the state the next commit lands on."""
        with gc_paused():
            return _catch_up(self._conn, after, False)

    def commit(
        self,
        changes: Sequence[Change],
        *,
        actor: str,
        operation: str,
        summary: str = "",
        allocations: Mapping[AllocationKey, int | None] | None = None,
        rows: Rows | None = None,
    ) -> RevisionInfo | None:
        """Write `changes` as revision head + 1 (see `Store.commit`). `rows` are `prepare_rows(changes,
        head + 1)` made before taking the lock, if the caller could."""
        if self._done:
            raise RuntimeError("a writer commits once")
        allocations = dict(allocations or {})
        conn, new = self._conn, self.head + 1
        # Timestamped under the lock, so revision times never run backwards.
        created_at = datetime.now(UTC)
        if not changes and (not allocations or _allocations_unchanged(conn, allocations)):
            return None
        if rows is None or rows.revision != new:
            rows = prepare_rows(changes, new)
        conn.execute(
            insert(revision),
            {
                "revision": new,
                "created_at": created_at,
                "actor": actor,
                "operation": operation,
                "summary": summary,
                "change_count": len(changes),
            },
        )
        if any(ch.key == _SYSTEM_TENANT for ch in changes):
            self._store._ensure_system_tenant(conn, new)
        _write_objects(conn, rows)
        if allocations:
            _write_allocations(conn, allocations)
        conn.execute(update(fabric).where(fabric.c.id == 1).values(revision=new))
        self._done = True
        return RevisionInfo(new, created_at, actor, operation, summary, len(changes))


class Store:
    """A handle on the database. Thread-safe: every method runs in its own connection and transaction. A
    fault of the database itself (down, full, read-only) raises `StoreUnavailable` (`faults.py`), recorded
    in `health`; the same store works again once the database does."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        # Every database operation goes through `health.guard`: a fault of the database itself (down, full,
        # read-only) becomes `StoreUnavailable`, and the controller can tell whether the store works.
        self.health = Health()

    # ---- lifecycle ------------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect, migrate to the newest schema and return a ready store. A database that cannot be reached
        or written raises `StoreUnavailable`, whose message says so."""
        engine = make_engine(url)
        try:
            upgrade(engine)
        except BaseException as exc:
            engine.dispose()
            fault = classify(exc)
            if fault is not None:
                raise fault from exc
            raise
        return cls(engine)

    @staticmethod
    def default_url(data_dir: Path) -> str:
        """The embedded database: SQLite in data_dir (created if missing)."""
        data_dir = Path(data_dir).expanduser()
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(data_dir / DB_FILE).resolve()}"

    @staticmethod
    def configured_url(data_dir: Path) -> str:
        """PODSWITCH_DATABASE_URL if set (PostgreSQL for HA), else the embedded SQLite in data_dir."""
        return os.environ.get(DATABASE_URL_ENV) or Store.default_url(data_dir)

    @property
    def url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        """For the store's own modules (store.cluster); the rest of podswitch goes through methods."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- transactions ---------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A consistent snapshot: head and objects read in one transaction agree with each other. SQLite in
        WAL mode gives every read transaction a snapshot; PostgreSQL needs REPEATABLE READ for that."""
        options: dict[str, Any] = (
            {} if self._sqlite else {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        with (
            self.health.guard(writing=False),
            self._engine.connect().execution_options(**options) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, int]]:
        """A write transaction holding the fabric-wide write lock, and the head revision under that lock."""
        with (
            self.health.guard(writing=True),
            write_connection(self._engine) as conn,
            write_cache(conn),
            conn.begin(),
        ):
            query = HEAD
            if not self._sqlite:
                # READ COMMITTED + FOR UPDATE: wait for a concurrent writer, then see the head it left.
                query = query.with_for_update()
            head = conn.execute(query).scalar_one()
            yield conn, head

    # ---- intent ---------------------------------------------------------------------------------------

    def head(self) -> int:
        with self.health.guard(writing=False), self._engine.connect() as conn:
            return conn.execute(HEAD).scalar_one()

    def load(self) -> tuple[int, Intent]:
        """The whole intent at head. Bodies are parsed (pydantic), not re-validated as an intent: they were
        validated before they were committed."""
        # Pause the GC for the fetch too: its 100k+ row tuples would set off full collections that walk
        # every object the process holds (e.g. the intent being replaced).
        with gc_paused():
            with self._read() as conn:
                head = conn.execute(HEAD).scalar_one()
                rows = conn.execute(
                    select(
                        intent_object.c.kind,
                        intent_object.c.tenant,
                        intent_object.c.segment,
                        intent_object.c.name,
                        intent_object.c.body,
                    )
                ).all()
            parsed = [(Key(_KIND[k], t, s, n), _PARSE[k](body)) for k, t, s, n, body in rows]
            # Tenant system always exists (every Intent has it), so a diff never creates it: its router and
            # segments may be stored without a row for the tenant itself. Give build() the parent it needs.
            if _SYSTEM_TENANT not in {key for key, _ in parsed if key.kind == Kind.TENANT}:
                parsed.append((_SYSTEM_TENANT, Tenant(name=SYSTEM)))
            intent = build(parsed)
        return head, intent

    def load_allocations(self) -> dict[AllocationKey, int]:
        with self._read() as conn:
            rows = conn.execute(select(allocation.c.kind, allocation.c.key, allocation.c.value)).all()
        return {(kind, key): value for kind, key, value in rows}

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: int,
        actor: str,
        operation: str,
        summary: str = "",
        allocations: Mapping[AllocationKey, int | None] | None = None,
    ) -> RevisionInfo | None:
        """Apply changes (as `model.ops.diff` makes them: complete, children with their parents) and
        allocation updates (None releases a key) as one new revision.

        Raises StaleRevision if the head is not expected_revision, StoreError if the changes do not fit the
        stored objects; either way nothing is written. Returns None, writing nothing, when there is nothing
        to do: no changes and no allocation that differs from the stored one."""
        if not changes and not allocations:
            return None
        # The new revision is known up front (if the head is not expected_revision nothing is written), so
        # all rows are built and serialised before taking the lock: the lock is held for database work only.
        rows = prepare_rows(changes, expected_revision + 1)
        with self.writer() as writer:
            if writer.head != expected_revision:
                raise StaleRevision(writer.head, expected_revision)
            return writer.commit(
                changes, actor=actor, operation=operation, summary=summary, allocations=allocations, rows=rows
            )

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """A write transaction holding the fabric-wide write lock (other writers, in this process or in any
        other controller on the same database, wait). Under the lock the head cannot move, so what the
        writer reads (`head`, `catch_up`) is exactly the state its commit lands on. Leaving the block
        without `commit` writes nothing."""
        try:
            with self._write() as (conn, head):
                yield Writer(self, conn, head)
        except IntegrityError as exc:
            raise StoreError(f"the changes do not fit the stored data: {exc.orig}") from exc

    def catch_up(self, after: int, *, before: bool = False) -> CatchUp:
        """Everything a controller at revision `after` needs to be at head, read in one consistent
        transaction: the head, every change since `after` in order (`before` bodies only if asked: a replay
        needs only what each object became) and the allocations at that head."""
        with gc_paused(), self._read() as conn:
            return _catch_up(conn, after, before)

    def _ensure_system_tenant(self, conn: Connection, new: int) -> None:
        """Tenant system exists in every intent without ever being created, so a change to it is an update
        of a row that may not be stored yet: store its implicit (default) form first."""
        values = {
            "kind": Kind.TENANT.value,
            "tenant": SYSTEM,
            "segment": "",
            "name": "",
            "body": Tenant(name=SYSTEM).model_dump_json(),
            "revision": new,
        }
        stmt = (sqlite.insert if self._sqlite else postgresql.insert)(intent_object).values(values)
        conn.execute(stmt.on_conflict_do_nothing())

    # ---- history --------------------------------------------------------------------------------------

    def changes_between(self, after: int, upto: int | None = None) -> list[tuple[int, Change]]:
        """Every change of the revisions after `after` up to `upto` (default: head), in the order they were
        made. Another controller process at revision `after` replays these to catch up."""
        query = select(change).where(change.c.revision > after)
        if upto is not None:
            query = query.where(change.c.revision <= upto)
        with gc_paused():
            with self._read() as conn:
                rows = conn.execute(query.order_by(change.c.revision, change.c.seq)).all()
            return [(row.revision, _change_of(row)) for row in rows]

    def history(self, limit: int = 50, before: int | None = None) -> list[RevisionInfo]:
        """Revisions, newest first; `before` pages back (revisions older than it)."""
        query = select(revision)
        if before is not None:
            query = query.where(revision.c.revision < before)
        with self._read() as conn:
            rows = conn.execute(query.order_by(revision.c.revision.desc()).limit(limit)).all()
        return [_info_of(row) for row in rows]

    def revision_info(self, number: int) -> RevisionInfo:
        with self._read() as conn:
            row = conn.execute(select(revision).where(revision.c.revision == number)).first()
        if row is None:
            raise NotFound(f"revision {number}")
        return _info_of(row)

    def revision_changes(self, number: int, limit: int | None = None, offset: int = 0) -> list[Change]:
        """The changes of one revision in the order they were made (paged with limit/offset)."""
        with self._read() as conn:
            if conn.execute(select(revision.c.revision).where(revision.c.revision == number)).first() is None:
                raise NotFound(f"revision {number}")
            query = select(change).where(change.c.revision == number).order_by(change.c.seq).offset(offset)
            if limit is not None:
                query = query.limit(limit)
            rows = conn.execute(query).all()
        with gc_paused():
            return [_change_of(row) for row in rows]

    # ---- observed state -------------------------------------------------------------------------------

    def put_switch_statuses(self, reports: Mapping[str, dict[str, Any]]) -> None:
        """Record what switches' agents reported, in one transaction. Each overwrites the switch's previous
        report; not audited."""
        now = datetime.now(UTC)
        rows = [{"switch": name, "body": json.dumps(body), "updated_at": now} for name, body in reports.items()]
        self._upsert(switch_status, rows)

    def switch_statuses(self) -> dict[str, dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(select(switch_status.c.switch, switch_status.c.body)).all()
        return {name: json.loads(body) for name, body in rows}

    def consistency_hash(self, origination: str) -> str | None:
        """The consistency hash last agreed with the orchestrator `origination` (None: never)."""
        with self._read() as conn:
            return conn.execute(
                select(orchestrator.c.consistency_hash).where(orchestrator.c.origination == origination)
            ).scalar_one_or_none()

    def put_consistency_hash(self, origination: str, value: str) -> None:
        self._upsert(
            orchestrator, [{"origination": origination, "consistency_hash": value, "updated_at": datetime.now(UTC)}]
        )

    def _upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert the rows, or update those with their primary key (the first key of each row)."""
        if not rows:
            return
        stmt = (sqlite.insert if self._sqlite else postgresql.insert)(table).values(rows)
        key, *rest = rows[0]
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[key]], set_={name: stmt.excluded[name] for name in rest}
        )
        with self.health.guard(writing=True), writing(self._engine) as conn:
            conn.execute(stmt)


# ---- rows <-> model -----------------------------------------------------------------------------------


def _dump(obj: Model | None) -> str | None:
    return None if obj is None else obj.model_dump_json()


@dataclass(slots=True)
class Rows:
    """What one commit writes, as positional rows in the column order of `_sql` (see `prepare_rows`)."""

    revision: int
    changes: list[tuple[Any, ...]] = field(default_factory=list)
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    deletes: list[tuple[Any, ...]] = field(default_factory=list)


def prepare_rows(changes: Sequence[Change], new: int) -> Rows:
    """Change rows (every change, in order) and the object writes they add up to. A key changed more than
    once in one commit is written once, in its final state; whether it existed before the commit is what
    its first change says (checked against the table: inserts hit the primary key, updates and deletes
    count their rows)."""
    with gc_paused():
        return _rows_of(changes, new)


def _rows_of(changes: Sequence[Change], new: int) -> Rows:
    rows = Rows(new)
    final: dict[Key, tuple[bool, tuple[str, str, str, str], str | None]] = {}
    for seq, ch in enumerate(changes):
        key = ch.key
        # .value, not the enum: psycopg dumps a Python Enum by its *name* ("INTERFACE_GROUP").
        cols = (Kind(key.kind).value, key.tenant, key.segment, key.name)
        after = _dump(ch.after)
        rows.changes.append((new, seq, *cols, _dump(ch.before), after))
        prior = final.get(key)
        existed = prior[0] if prior is not None else ch.before is not None
        final[key] = (existed, cols, after)
    for existed, cols, after in final.values():
        if after is None:
            if existed:
                rows.deletes.append(cols)
        elif existed:
            rows.updates.append((after, new, *cols))
        else:
            rows.inserts.append((*cols, after, new))
    return rows


def _write_objects(conn: Connection, rows: Rows) -> None:
    # A full replace of a large fabric is 100k+ objects plus as many change rows: each goes to the database
    # in one bulk operation per statement. Row-by-row (let alone ORM objects) would take minutes, and even
    # SQLAlchemy's per-row parameter handling costs more than SQLite's own work, so the DBAPI gets
    # positional rows directly.
    if conn.dialect.name == "postgresql":
        _write_objects_pg(conn, rows)
        return
    sql = _sql(conn.dialect)
    for what, rowlist in (("deleted", rows.deletes), ("updated", rows.updates)):
        if rowlist:
            _check_count(what, len(rowlist), conn.exec_driver_sql(sql[what], rowlist).rowcount)
    if rows.inserts:
        conn.exec_driver_sql(sql["inserted"], rows.inserts)
    if rows.changes:
        conn.exec_driver_sql(sql["changes"], rows.changes)


def _write_objects_pg(conn: Connection, rows: Rows) -> None:
    """PostgreSQL: an executemany is still one round of protocol messages per row (~10 s for a full
    replace); COPY for inserts and one statement over unnest()ed arrays for updates and deletes are ~10x
    faster. Column names are literal here, checked against the schema by the test suite."""
    import psycopg

    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    try:
        with raw.cursor() as cur:
            if rows.deletes:
                cur.execute(
                    "DELETE FROM intent_object o USING unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
                    "AS d(kind, tenant, segment, name) WHERE o.kind = d.kind AND o.tenant = d.tenant "
                    "AND o.segment = d.segment AND o.name = d.name",
                    [list(col) for col in zip(*rows.deletes, strict=True)],
                )
                _check_count("deleted", len(rows.deletes), cur.rowcount)
            if rows.updates:
                body, revision_, *key = zip(*rows.updates, strict=True)
                cur.execute(
                    "UPDATE intent_object o SET body = u.body, revision = %s FROM unnest(%s::text[], "
                    "%s::text[], %s::text[], %s::text[], %s::text[]) AS u(kind, tenant, segment, name, body) "
                    "WHERE o.kind = u.kind AND o.tenant = u.tenant AND o.segment = u.segment "
                    "AND o.name = u.name",
                    [revision_[0], *(list(col) for col in key), list(body)],
                )
                _check_count("updated", len(rows.updates), cur.rowcount)
            for table, columns, rowlist in (
                ("intent_object", "kind, tenant, segment, name, body, revision", rows.inserts),
                ("change", "revision, seq, kind, tenant, segment, name, before, after", rows.changes),
            ):
                if rowlist:
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rowlist:
                            copy.write_row(row)
    except psycopg.IntegrityError as exc:
        raise StoreError(f"the changes do not fit the stored data: {exc}") from exc


def _check_count(what: str, wanted: int, done: int) -> None:
    if done != wanted:
        raise StoreError(f"{wanted - done} of {wanted} {what} objects are not stored")


_KEY_COLUMNS = ("kind", "tenant", "segment", "name")


@cache
def _sql(dialect: Dialect) -> dict[str, str]:
    """The bulk statements in the dialect's quoting and parameter style, names taken from the schema."""
    q = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"

    def insert_sql(table: Table, columns: Sequence[str]) -> str:
        names = ", ".join(q(table.c[c].name) for c in columns)
        return f"INSERT INTO {q(table.name)} ({names}) VALUES ({', '.join(mark for _ in columns)})"

    where = " AND ".join(f"{q(intent_object.c[c].name)} = {mark}" for c in _KEY_COLUMNS)
    obj = q(intent_object.name)
    body, rev = q(intent_object.c.body.name), q(intent_object.c.revision.name)
    return {
        "inserted": insert_sql(intent_object, (*_KEY_COLUMNS, "body", "revision")),
        "updated": f"UPDATE {obj} SET {body} = {mark}, {rev} = {mark} WHERE {where}",
        "deleted": f"DELETE FROM {obj} WHERE {where}",
        "changes": insert_sql(change, ("revision", "seq", *_KEY_COLUMNS, "before", "after")),
    }


def _catch_up(conn: Connection, after: int, before: bool) -> CatchUp:
    head = conn.execute(HEAD).scalar_one()
    oldest = conn.execute(select(func.min(revision.c.revision))).scalar()
    if after < head and (oldest is None or oldest > after + 1):
        return CatchUp(head, [], {}, complete=False)
    columns = [change.c.revision, change.c.kind, change.c.tenant, change.c.segment, change.c.name, change.c.after]
    if before:
        columns.append(change.c.before)
    query = select(*columns).where(change.c.revision > after, change.c.revision <= head)
    rows = conn.execute(query.order_by(change.c.revision, change.c.seq)).all()
    alloc = conn.execute(select(allocation.c.kind, allocation.c.key, allocation.c.value)).all()
    return CatchUp(
        head,
        [(row.revision, _change_of(row, before)) for row in rows],
        {(kind, key): value for kind, key, value in alloc},
    )


def _change_of(row: Row[Any], before: bool = True) -> Change:
    """A change row as a Change; without `before` its before body is not parsed (a replay does not need
    it, and parsing is most of the cost of reading 100,000 changes)."""
    parse = _PARSE[row.kind]
    return Change(
        Key(_KIND[row.kind], row.tenant, row.segment, row.name),
        None if not before or row.before is None else parse(row.before),
        None if row.after is None else parse(row.after),
    )


def _info_of(row: Row[Any]) -> RevisionInfo:
    return RevisionInfo(row.revision, row.created_at, row.actor, row.operation, row.summary, row.change_count)


# ---- allocations --------------------------------------------------------------------------------------


def _allocations_unchanged(conn: Connection, wanted: Mapping[AllocationKey, int | None]) -> bool:
    rows = conn.execute(
        select(allocation.c.kind, allocation.c.key, allocation.c.value).where(
            tuple_(allocation.c.kind, allocation.c.key).in_(list(wanted))
        )
    ).all()
    current = {(kind, key): value for kind, key, value in rows}
    return all(current.get(k) == v for k, v in wanted.items())


def _write_allocations(conn: Connection, wanted: Mapping[AllocationKey, int | None]) -> None:
    # Delete every named key first, then insert the new values: a commit may move a value from one key to
    # another (release A's number, give it to B), which row-by-row upserts could trip over (kind, value).
    conn.execute(
        delete(allocation).where(allocation.c.kind == bindparam("a_kind"), allocation.c.key == bindparam("a_key")),
        [{"a_kind": kind, "a_key": key} for kind, key in wanted],
    )
    rows = [{"kind": kind, "key": key, "value": value} for (kind, key), value in wanted.items() if value is not None]
    if rows:
        conn.execute(insert(allocation), rows)
