"""Migrations and engine settings: the same Alembic scripts build the same schema on SQLite and
PostgreSQL, match the tables the code uses, and the databases are set up for the guarantees we give."""

from __future__ import annotations

import fnmatch
import threading
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from podswitch.model import Key, Kind
from podswitch.store import DATABASE_URL_ENV, SchemaError, Store
from podswitch.store.engine import make_engine
from podswitch.store.migrate import MIGRATIONS, alembic_config, head_revision
from podswitch.store.schema import UTCDateTime, metadata
from tests.builders import demo_tenant
from tests.store.conftest import empty_pg
from tests.store.helpers import save

ROOT = Path(__file__).resolve().parents[2]


def describe(engine: Engine) -> dict[str, Any]:
    """Tables as the database reports them, normalised so SQLite and PostgreSQL can be compared."""
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        tables[table] = {
            "columns": [
                (c["name"], c["nullable"], type(c["type"]).__name__ in ("BIGINT", "INTEGER"))
                for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            # Indexes of our own; those that back a unique constraint are named differently per database.
            "indexes": sorted(
                (tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
                if not i["name"].startswith("sqlite_autoindex") and "duplicates_constraint" not in i
            ),
        }
    return tables


def schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


@pytest.mark.postgres
def test_migrations_build_the_same_schema_on_sqlite_and_postgresql(tmp_path: Path, pg_database: URL) -> None:
    urls = [Store.default_url(tmp_path), empty_pg(pg_database)]
    schemas = []
    for url in urls:
        Store.open(url).close()
        engine = make_engine(url)
        try:
            schemas.append(describe(engine))
            assert schema_diff(engine) == [], url
            with engine.connect() as conn:
                assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
        finally:
            engine.dispose()
    sqlite_schema, pg_schema = schemas
    assert set(sqlite_schema) == {
        "alembic_version",
        "allocation",
        "change",
        "controller",
        "fabric",
        "intent_object",
        "orchestrator",
        "revision",
        "switch_status",
    }
    assert sqlite_schema == pg_schema


def test_open_is_idempotent_and_keeps_data(store_url: str) -> None:
    with Store.open(store_url) as first:
        save(first, demo_tenant())
    for _ in range(2):
        with Store.open(store_url) as again:
            assert again.head() == 1
            assert again.load()[1].get(Key(Kind.TENANT, "demo.openstack")) is not None


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    # Several controller processes may start together on a new database; the migration lock makes one
    # of them create the schema while the others wait and find it done.
    errors: list[BaseException] = []
    opened: list[Store] = []

    def open_store() -> None:
        try:
            opened.append(Store.open(store_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in opened:
        s.close()
    assert errors == []
    with Store.open(store_url) as s:
        assert s.head() == 0


def test_downgrade_to_nothing_and_upgrade_again(store_url: str) -> None:
    Store.open(store_url).close()
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    with Store.open(store_url) as s:
        assert s.head() == 0 and s.history() == []


def test_sqlite_is_wal_fully_synchronous_with_foreign_keys(tmp_path: Path) -> None:
    with Store.open(Store.default_url(tmp_path)) as store:
        save(store, demo_tenant())
        engine = store._engine
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_sqlite_writers_take_the_write_lock_before_reading(tmp_path: Path) -> None:
    # pysqlite would defer BEGIN until the first INSERT; a writer that reads the head under a deferred
    # transaction can be overtaken. Ours holds the lock from BEGIN: another writer cannot even start.
    url = Store.default_url(tmp_path)
    with Store.open(url) as store:
        other = create_engine(url, connect_args={"timeout": 0, "isolation_level": None})
        try:
            with store._write() as (_conn, head), other.connect() as conn2:
                assert head == 0
                with pytest.raises(OperationalError, match="locked"):
                    conn2.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            other.dispose()


@pytest.mark.postgres
def test_postgresql_writers_lock_the_head_row(pg_database: URL) -> None:
    url = empty_pg(pg_database)
    with Store.open(url) as store:
        other = create_engine(url)
        try:
            with store._write() as (_conn, head), other.connect() as conn2:
                assert head == 0
                with pytest.raises(OperationalError, match="could not obtain lock"):
                    conn2.execute(text("SELECT revision FROM fabric WHERE id = 1 FOR UPDATE NOWAIT"))
        finally:
            other.dispose()


def test_default_url_makes_the_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "var" / "lib" / "podswitch"
    url = Store.default_url(data)
    assert data.is_dir() and url == f"sqlite:///{data / 'podswitch.db'}"
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert Store.configured_url(data) == url
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://podswitch@db.example/podswitch")
    assert Store.configured_url(data) == "postgresql://podswitch@db.example/podswitch"
    with Store.open(url) as store:
        store.commit([], expected_revision=0, actor="a", operation="allocate", allocations={("x", "y"): 1})
        assert store.head() == 1
    assert (data / "podswitch.db").exists()


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 1), create_engine("sqlite://").dialect)


def test_migrations_ship_as_package_data() -> None:
    # Store.open() runs the migrations from the installed package: every file they need must be matched by
    # the package-data globs, or an installed (non-editable) podswitch could not create its database.
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["podswitch"]
    package = ROOT / "src" / "podswitch"
    needed = [
        p for p in MIGRATIONS.rglob("*") if p.is_file() and p.suffix in (".py", ".ini") and "__pycache__" not in p.parts
    ]
    assert needed
    for path in needed:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, g) and relative.count("/") == g.count("/") for g in globs), relative


def test_objects_are_stored_under_their_key_columns(store: Store) -> None:
    save(store, demo_tenant())
    with store._engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, tenant, segment, name FROM intent_object ORDER BY kind")).all()
    assert ("tenant", "demo.openstack", "", "") in [tuple(r) for r in rows]
    assert ("logical-router", "demo.openstack", "", "") in [tuple(r) for r in rows]


def test_a_database_from_a_newer_podswitch_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaError, match="9999_from_the_future"):
        Store.open(store_url)
