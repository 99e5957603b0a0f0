from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from podswitch.api.app import create_app
from podswitch.store import Store
from tests.builders import SEED_PATH

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED = SEED_PATH


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    store = Store.open(Store.default_url(tmp_path))
    yield create_app(store, TOKEN)
    store.close()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, headers=AUTH)


@pytest.fixture
def anonymous(app: FastAPI) -> TestClient:
    return TestClient(app)


def serve(store: Store, port: int = 0, **app_args: Any) -> tuple[str, Callable[[], None]]:
    """The controller over `store` under uvicorn on 127.0.0.1 (real connections, keep-alive, long-polls):
    its URL and a function that stops it. `port` 0 takes a free one; a restarted controller takes its old."""
    app = create_app(store, TOKEN, **app_args)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", stop
