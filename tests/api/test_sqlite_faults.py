"""SQLite's disk full, and its files made unwritable, under a running controller: the write is refused whole
with a clear answer (507 full, 503 unwritable), a read afterwards shows the state from before it, the store
still opens, and writes work again once space or write access is back — with no restart.

Disk full is real: the controller runs with its data on a small tmpfs in a mount namespace of its own
(`tests/store/private_mount.py`), filled with a file of the test's own. Read-only is `chattr +i` on the
database and its WAL: the one way to make files unwritable for root, whom permissions do not stop, and for
a process that already has them open (a read-only remount is refused while files are open for writing). Both
need root."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from podswitch.lab.process import ControllerProcess
from podswitch.store import Store
from tests.api.conftest import AUTH, SEED, TOKEN, serve
from tests.api.test_switches import POD
from tests.store.private_mount import PrivateTmpfs

TEXT = POD + "!\n" + SEED.read_text()
HANG = 30.0  # s: a client timeout no prompt answer comes near
TMPFS_BYTES = 32 * 1024 * 1024
ROOM = 256 * 1024  # what filling leaves: enough to open the store, far too little for BIG
BIG = TEXT + "".join(f"!\ntenant bulk{i:05d}\n  origination disk-full-test-{i:05d}\n" for i in range(2000))


def _revision(api: httpx.Client) -> int:
    return int(api.get("/v1/history", params={"limit": 1}).json()[0]["revision"])


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[PrivateTmpfs]:
    with PrivateTmpfs(tmp_path / "data", TMPFS_BYTES) as fs:
        yield fs


@pytest.mark.slow  # three controller processes
def test_a_full_disk_refuses_the_write_whole_and_the_store_still_opens(tmpfs: PrivateTmpfs) -> None:
    server = ControllerProcess(tmpfs.path, TOKEN, wrap=tmpfs.enter)
    server.start()
    try:
        with server.client(timeout=HANG) as api:
            assert api.put("/v1/running-config", content=TEXT.encode()).status_code == 200
            before, head = api.get("/v1/running-config").text, _revision(api)
            tmpfs.fill(leave=ROOM)

            full = api.put("/v1/running-config", content=BIG.encode())
            assert full.status_code == 507, full.text
            error = full.json()["error"]
            assert error["database"] == "full" and int(full.headers["retry-after"]) > 0
            assert error["message"].startswith("the database is full: database or disk is full; nothing was written")
            # Nothing half-written: the intent, the history and the agents' view are as before.
            assert api.get("/v1/running-config").text == before and _revision(api) == head
            health = api.get("/healthz").json()
            assert (health["status"], health["store"], health["store_revision"]) == ("degraded", "full", head)

            server.restart()  # on the full disk: the store opens, with the state from before the failed write
            assert api.get("/v1/running-config").text == before and _revision(api) == head

            tmpfs.free()
            written = api.put("/v1/running-config", content=BIG.encode())
            assert written.status_code == 200, written.text
            assert written.json()["revision"] == head + 1
            after = api.get("/v1/running-config").text
            assert "tenant bulk01999\n" in after
            server.restart()
            assert api.get("/v1/running-config").text == after and _revision(api) == head + 1
            assert api.get("/healthz").json()["status"] == "ok"
    finally:
        server.stop()


def _chattr(flag: str, files: list[Path]) -> None:
    done = subprocess.run(["chattr", flag, *map(str, files)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"chattr {flag} failed (the test's temporary filesystem must support it): {done.stderr}")


def test_unwritable_database_files_refuse_the_write_and_work_again_when_writable(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: makes the database's files immutable (chattr +i), which nothing else does to root")
    data = tmp_path / "data"
    store = Store.open(Store.default_url(data))
    base, stop = serve(store)
    try:
        with httpx.Client(base_url=base, headers=AUTH, timeout=HANG) as api:
            assert api.put("/v1/running-config", content=TEXT.encode()).status_code == 200
            assert api.put("/v1/tenants/before", json={}).status_code == 201
            before, head = api.get("/v1/running-config").text, _revision(api)
            files = [data / "podswitch.db", data / "podswitch.db-wal"]  # not -shm: SQLite maps it; a write would SIGBUS
            _chattr("+i", files)
            try:
                operations = {"operations": [{"op": "put", "path": "/tenants/during2", "body": {}}]}
                for answer in (
                    api.put("/v1/tenants/during", json={}),
                    api.post("/v1/transactions", json=operations),
                    api.put("/v1/running-config", content=(TEXT + "!\ntenant during3\n").encode()),
                ):
                    assert answer.status_code == 503, answer.text
                    error = answer.json()["error"]
                    # A connection that had the file open gets EPERM (SQLite: disk I/O error), a new one opens it
                    # read-only: either way the message says the database could not be written.
                    assert error["database"] in ("read-only", "failing"), error
                    assert error["message"].startswith(("the database is read-only: ", "the database failed: "))
                    assert "nothing was written" in error["message"]
                assert api.get("/v1/running-config").text == before and _revision(api) == head
                assert api.get("/healthz").json()["status"] == "degraded"
            finally:
                _chattr("-i", files)
            after = api.put("/v1/tenants/after", json={})
            assert after.status_code == 201 and after.headers["x-podswitch-revision"] == str(head + 1)
            assert api.get("/healthz").json()["status"] == "ok"
    finally:
        stop()
        store.close()
    with Store.open(Store.default_url(data)) as reopened:
        revision, intent = reopened.load()
        assert revision == head + 1
        assert {"before", "after"} <= set(intent.tenants) and not {"during", "during2", "during3"} & set(intent.tenants)
