from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
