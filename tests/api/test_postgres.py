"""The controller on the real PostgreSQL: the same API, and two controller processes sharing one database
(the HA shape of DESIGN.md §6) see each other's revisions and never lose a write."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from podswitch.api.app import create_app
from podswitch.store import Store
from tests.api.conftest import AUTH, SEED, TOKEN
from tests.api.test_switches import POD
from tests.store.conftest import empty_pg, pg_database  # noqa: F401  (fixture)

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(pg_database: URL) -> str:  # noqa: F811
    return empty_pg(pg_database)


@pytest.fixture
def two_controllers(pg_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    a, b = Store.open(pg_url), Store.open(pg_url)
    yield TestClient(create_app(a, TOKEN), headers=AUTH), TestClient(create_app(b, TOKEN), headers=AUTH)
    a.close()
    b.close()


def test_running_config_round_trip_on_postgresql(two_controllers: tuple[TestClient, TestClient]) -> None:
    a, _ = two_controllers
    text = POD + "!\n" + SEED.read_text()
    assert a.put("/v1/running-config", content=text.encode()).status_code == 200
    assert a.get("/v1/running-config").text == text
    assert a.get("/v1/history").json()[0]["change_count"] == 12  # 3 switches, 2 groups, 2 links, 5 seed objects


def test_a_second_controller_serves_what_the_first_committed(two_controllers: tuple[TestClient, TestClient]) -> None:
    a, b = two_controllers
    a.put("/v1/running-config", content=(POD + "!\n" + SEED.read_text()).encode())
    # Agents may ask either controller: b catches up before answering.
    doc_b = b.get("/v1/switches/leaf1/desired-state")
    doc_a = a.get("/v1/switches/leaf1/desired-state")
    assert doc_b.status_code == 200 and doc_b.headers["etag"] == doc_a.headers["etag"]
    # b writes on top of a's revision, and a serves it at once
    r = b.put("/v1/tenants/t2", json={})
    assert r.status_code == 201 and r.headers["x-podswitch-revision"] == "2"
    assert a.get("/v1/tenants/t2").status_code == 200
    assert a.get("/v1/running-config").headers["x-podswitch-revision"] == "2"


def test_concurrent_writers_on_two_controllers_lose_nothing(two_controllers: tuple[TestClient, TestClient]) -> None:
    a, b = two_controllers
    errors: list[str] = []

    def writer(client: TestClient, prefix: str) -> None:
        for i in range(15):
            r = client.put(f"/v1/tenants/{prefix}{i}", json={})
            if r.status_code not in (200, 201):
                errors.append(r.text)

    threads = [threading.Thread(target=writer, args=(a, "a")), threading.Thread(target=writer, args=(b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = {t["name"] for t in a.get("/v1/tenants", params={"limit": 100}).json()["items"]} | {
        t["name"] for t in b.get("/v1/tenants", params={"limit": 100}).json()["items"]
    }
    assert {f"a{i}" for i in range(15)} | {f"b{i}" for i in range(15)} <= names
    history = a.get("/v1/history", params={"limit": 100}).json()
    assert len(history) == 30 and [h["revision"] for h in history] == list(range(30, 0, -1))


def test_if_match_holds_across_controllers(two_controllers: tuple[TestClient, TestClient]) -> None:
    a, b = two_controllers
    text = POD + "!\n" + SEED.read_text()
    a.put("/v1/running-config", content=text.encode())
    read = a.get("/v1/running-config")
    assert b.put("/v1/tenants/t2", json={}).status_code == 201  # on the other controller
    r = a.put("/v1/running-config", content=read.text.encode(), headers={"If-Match": read.headers["etag"]})
    assert r.status_code == 412 and r.json()["error"]["revision"] == 2
    assert b.get("/v1/tenants/t2").status_code == 200
