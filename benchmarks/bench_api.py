"""PUT /v1/running-config of 1,000 tenants / 10,000 segments / 100,000 endpoints into an empty controller,
on SQLite and on PostgreSQL, through the real FastAPI app. Peak memory is this process's high-water mark
during the request. Baseline: the bare store floor — inserting the same number of object and change rows
with executemany, no parsing, validation or diffing."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, insert

from benchmarks.common import Result, emit, large_text, peak_rss_mib, quiet_logs, reset_peak_rss, timed
from podswitch.api.app import create_app
from podswitch.store import Store

PG_ADMIN = os.environ.get("PODSWITCH_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")


def _floor(url: str, rows: int) -> float:
    """Insert `rows` object rows and `rows` change rows of realistic size in one transaction."""
    engine = create_engine(url)
    meta = MetaData()
    obj = Table(
        "floor_object",
        meta,
        Column("kind", String(20), primary_key=True),
        Column("name", String(200), primary_key=True),
        Column("body", Text),
    )
    chg = Table(
        "floor_change",
        meta,
        Column("id", Integer, primary_key=True),
        Column("name", String(200)),
        Column("after", Text),
    )
    meta.create_all(engine)
    body = (
        '{"id":"00000000-0000-4b88-a877-ca79d3e882bc","attachment_point":{"interface_group":"osvdev0001",'
        '"vlan":100},"ips":["10.0.0.2"],"mac":"fa:16:3e:00:00:00","origination":"openstack"}'
    )
    objects = [{"kind": "endpoint", "name": f"e{i}", "body": body} for i in range(rows)]
    changes = [{"name": f"e{i}", "after": body} for i in range(rows)]

    def go() -> None:
        with engine.begin() as conn:
            conn.execute(insert(obj), objects)
            conn.execute(insert(chg), changes)

    seconds, _ = timed(go)
    engine.dispose()
    return seconds


def _apply(url: str, text: str) -> tuple[float, float, int]:
    store = Store.open(url)
    app = create_app(store, "bench")
    client = TestClient(app, headers={"Authorization": "Bearer bench"})
    reset_peak_rss()

    def go() -> int:
        r = client.put("/v1/running-config", content=text.encode(), headers={"Content-Type": "text/plain"})
        assert r.status_code == 200, r.text[:500]
        return r.json()["revision"]

    seconds, revision = timed(go)
    peak = peak_rss_mib()
    assert client.get("/healthz").json()["objects"]["endpoints"] == 100_000
    store.close()
    return seconds, peak, revision


def main() -> None:
    text = large_text()
    rows = text.count("\n  segment ") + text.count("\n    endpoint ") + text.count("\n    member ")
    with quiet_logs(), tempfile.TemporaryDirectory(prefix="podswitch-bench-") as tmp:
        url = Store.default_url(Path(tmp) / "store")
        seconds, peak, _ = _apply(url, text)
        floor = _floor(f"sqlite:///{tmp}/floor.db", rows)
        emit(
            Result(
                "PUT running-config 100k endpoints, SQLite",
                seconds,
                "s",
                "<= 10 s",
                "bare executemany floor",
                floor,
                seconds <= 10,
            )
        )
        emit(Result("  peak memory during that PUT", peak, "MiB", "<= 1024 MiB", ok=peak <= 1024))

    pg = _pg_database()
    if pg is None:
        print("PostgreSQL benchmark skipped: no server at " + PG_ADMIN, file=sys.stderr)
        return
    url, drop = pg
    try:
        with quiet_logs():
            seconds, peak, _ = _apply(url, text)
            floor = _floor(url, rows)
        emit(Result("PUT running-config 100k endpoints, PostgreSQL", seconds, "s", "", "bare executemany floor", floor))
        emit(Result("  peak memory during that PUT", peak, "MiB", "<= 1024 MiB", ok=peak <= 1024))
    finally:
        drop()


def _pg_database() -> tuple[str, object] | None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        conn = admin.connect()
    except Exception:
        return None
    name = f"podswitch_bench_{secrets.token_hex(4)}"
    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


if __name__ == "__main__":
    main()
