"""Every store test runs twice: on SQLite in a temporary directory and on the machine's real PostgreSQL.

PostgreSQL: `PODSWITCH_TEST_PG_URL` (default postgresql://root@127.0.0.1:5432/postgres) names a server
and a database to connect to for administration; the session creates its own database
`podswitch_test_<random>` there, gives every test an empty schema in it, and drops it at the end.
An unreachable server fails the PostgreSQL tests (a store that was never tested against PostgreSQL
must not look green); `PODSWITCH_SKIP_PG=1` skips them instead."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from podswitch.store import Store
from podswitch.store.engine import normalize_url
from tests.store.pg_cluster import pg_cluster, pg_template  # noqa: F401  (fixtures: a cluster a test owns)

PG_URL_ENV = "PODSWITCH_TEST_PG_URL"
SKIP_PG_ENV = "PODSWITCH_SKIP_PG"
DEFAULT_PG_URL = "postgresql://root@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    """A fresh PostgreSQL database for this test session (per xdist worker), dropped at the end."""
    if os.environ.get(SKIP_PG_ENV) == "1":
        pytest.skip(f"PostgreSQL tests skipped because {SKIP_PG_ENV}=1")
    admin_url = normalize_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        conn = admin.connect()
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {admin_url.render_as_string(hide_password=True)} is unreachable: {exc.orig}\n"
            f"The store must be tested against PostgreSQL. Start it, point {PG_URL_ENV} at a server, or set "
            f"{SKIP_PG_ENV}=1 to skip the PostgreSQL tests.",
            pytrace=False,
        )
    name = f"podswitch_test_{secrets.token_hex(6)}"
    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name)
    finally:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
        admin.dispose()


def empty_pg(url: URL) -> str:
    """The session database with an empty public schema (no tables, no alembic_version)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no schema yet), SQLite or PostgreSQL."""
    if request.param == "sqlite":
        return Store.default_url(tmp_path / "data")
    return empty_pg(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened
