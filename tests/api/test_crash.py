"""kill -9 of the controller in the middle of a large PUT of running-config leaves all of it or none.

A real `podswitch serve` process on SQLite gets a 20,000-endpoint running-config; while it writes the
revision (the WAL file grows) it is SIGKILLed. After a restart the store holds either the previous intent or
the whole new one — never a part — and the controller serves exactly that."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from podswitch.config import render
from podswitch.lab.process import ControllerProcess
from tests.strategies import large_intent

TOKEN = "crash-test-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ControllerProcess]:
    srv = ControllerProcess(tmp_path, TOKEN)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def big_text() -> str:
    return render(large_intent(tenants=200, leaves=8, spines=2, groups=150))


def _put_in_background(url: str, text: str) -> threading.Thread:
    def go() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server is killed under us: that is the point
            httpx.put(
                f"{url}/v1/running-config",
                content=text.encode(),
                timeout=300,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
            )

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("kill_at_wal_bytes", [64 * 1024, 4 * 1024 * 1024])
def test_kill_9_during_a_large_put_keeps_all_or_nothing(
    server: ControllerProcess, big_text: str, kill_at_wal_bytes: int
) -> None:
    server.start()
    small = "tenant before\n  origination test\n"
    assert (
        httpx.put(
            f"{server.url}/v1/running-config", content=small.encode(), headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 200
    )
    wal = server.data_dir / "podswitch.db-wal"
    start_size = wal.stat().st_size if wal.exists() else 0
    thread = _put_in_background(server.url, big_text)
    deadline = time.monotonic() + 120
    killed_mid_write = False
    while time.monotonic() < deadline and thread.is_alive():
        if wal.exists() and wal.stat().st_size - start_size >= kill_at_wal_bytes:
            server.kill()
            killed_mid_write = True
            break
        time.sleep(0.005)
    else:
        server.kill()
    thread.join(timeout=60)
    server.start()
    health = httpx.get(f"{server.url}/healthz").json()
    text = httpx.get(f"{server.url}/v1/running-config", timeout=120).text
    if health["revision"] == 1:
        assert text == small, "the old intent must be intact"
    else:
        assert health["revision"] == 2 and text == big_text, "the new intent must be complete"
    assert health["objects"]["endpoints"] in (0, 20000)
    # The kill must really have hit a write in progress for this test to mean anything.
    assert killed_mid_write, "the PUT finished before the WAL reached the kill point; raise the size"
