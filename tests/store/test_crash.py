"""kill -9 in the middle of a large commit leaves either all of it or none of it, and the store carries on
from there. A child process (crash_writer.py) commits 100,000 endpoints in one change; we SIGKILL it once
the transaction is visibly writing, reopen the store and check head, objects and audit agree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from podswitch.model import Change, Key, Kind, Tenant
from podswitch.store import Store
from tests.builders import demo_tenant
from tests.store.crash_writer import PER_SEGMENT, TENANT
from tests.store.helpers import objects, save

WRITER = Path(__file__).with_name("crash_writer.py")
ENDPOINTS = 100_000
OBJECTS = 1 + ENDPOINTS // PER_SEGMENT + ENDPOINTS  # tenant, segments, endpoints
APP_NAME = "podswitch-crash-writer"
TIMEOUT = 120.0

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the writer finished (exit {proc.returncode}) before {what}; nothing was interrupted")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


def sqlite_kill_point(url: str, wal_bytes: int) -> Callable[[subprocess.Popen[str]], None]:
    """SQLite keeps the transaction's pages in memory and writes them to the WAL at COMMIT, the commit
    record last: once the WAL has grown past wal_bytes the commit is under way and not finished."""
    wal = Path(make_url(url).database + "-wal")

    def wait(proc: subprocess.Popen[str]) -> None:
        wait_for(lambda: wal.exists() and wal.stat().st_size > wal_bytes, proc, f"the WAL to pass {wal_bytes}")

    return wait


def pg_kill_point(admin_url: str, statement: str) -> Callable[[subprocess.Popen[str]], None]:
    """PostgreSQL: wait until the writer's backend has written (it has a transaction id) and is running
    `statement`: the transaction is open and holds uncommitted rows."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def running() -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                        "AND backend_xid IS NOT NULL AND query LIKE :stmt"
                    ),
                    {"app": APP_NAME, "stmt": statement + "%"},
                ).scalar_one()
                > 0
            )

    def wait(proc: subprocess.Popen[str]) -> None:
        try:
            wait_for(running, proc, f"the writer to run {statement}")
        finally:
            engine.dispose()

    return wait


def pg_wait_backend_gone(admin_url: str) -> None:
    # The server notices the dead client at its next read and rolls back; wait for that so the next test
    # (or our own check) does not queue behind the killed transaction's locks.
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if not conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"), {"app": APP_NAME}
                ).scalar_one():
                    return
            time.sleep(0.05)
        pytest.fail("the killed writer's PostgreSQL backend did not go away")
    finally:
        engine.dispose()


@pytest.mark.parametrize("moment", ["early", "late"])
def test_kill_9_in_the_middle_of_a_large_commit_leaves_all_or_nothing(store_url: str, moment: str) -> None:
    with Store.open(store_url) as store:
        save(store, demo_tenant())
        head_before, intent_before = store.load()
    sqlite = store_url.startswith("sqlite")
    if sqlite:
        writer_url = store_url
        # The whole change is ~48 MB of WAL: kill at its first megabytes, or near its end.
        kill_point = sqlite_kill_point(store_url, 1 << 20 if moment == "early" else 32 << 20)
    else:
        writer_url = (
            make_url(store_url).update_query_dict({"application_name": APP_NAME}).render_as_string(hide_password=False)
        )
        # Early: right after the first rows (the revision row, then the objects being copied in);
        # late: while the audit rows, the last bulk write before the head moves, are copied in.
        kill_point = pg_kill_point(store_url, "COPY intent_object" if moment == "early" else "COPY change")

    proc = subprocess.Popen(
        [sys.executable, str(WRITER), writer_url, str(ENDPOINTS)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("ready"), ready
        kill_point(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    if not sqlite:
        pg_wait_backend_gone(store_url)

    with Store.open(store_url) as store:
        head, intent = store.load()
        crash_objects = {k: v for k, v in objects(intent).items() if k.tenant == TENANT}
        if head == head_before:
            # None of it: exactly the intent, history and audit from before.
            assert objects(intent) == objects(intent_before)
            assert [i.revision for i in store.history()] == [head_before]
            assert store.changes_between(head_before) == []
        else:
            # All of it: every object, one revision, one audit row per object.
            assert head == head_before + 1
            assert len(crash_objects) == OBJECTS
            assert {k: v for k, v in objects(intent).items() if k.tenant != TENANT} == objects(intent_before)
            info = store.revision_info(head)
            assert info.actor == "crash-writer" and info.change_count == OBJECTS
            assert len(store.revision_changes(head)) == OBJECTS
        print(f"{store_url.split(':')[0]} killed {moment}: {'all' if head != head_before else 'nothing'} survived")
        # The store is not left locked or damaged: the next writer carries on from here.
        after = Change(Key(Kind.TENANT, "after-crash"), None, Tenant(name="after-crash"))
        info = store.commit([after], expected_revision=head, actor="next", operation="put")
        assert info is not None and info.revision == head + 1
