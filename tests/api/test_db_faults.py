"""PostgreSQL stopped under a running controller: every answer is prompt and clear (503 with Retry-After
where the database is needed, the snapshot where it is not), agents keep their state, and the same
controller takes writes again by itself once the database is back, having lost nothing it accepted.

The cluster is the test's own (`tests/store/pg_cluster.py`), stopped and started for real; the controller
runs under uvicorn and is asked over real connections with a 30 s client timeout, which only a hang hits."""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from podswitch.agent.main import run
from podswitch.client import Client, Unavailable
from podswitch.fabric.state import STATUS_HEADER, STATUS_REPORT_HEADER
from podswitch.store import Store
from tests.agent.test_client import FakeReconciler, FakeTime
from tests.api.conftest import AUTH, SEED, TOKEN, serve
from tests.api.test_switches import POD
from tests.store.pg_cluster import Cluster, pg_cluster, pg_template  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgres

TEXT = POD + "!\n" + SEED.read_text()
HANG = 30.0  # s: a client timeout no prompt answer comes near
RECOVERY_TRIES = 150  # x 0.2 s: a bound on the wait for the database, not a measurement
UNREACHABLE = "the database is unreachable: "


@pytest.fixture
def controller(pg_cluster: Cluster) -> Iterator[str]:  # noqa: F811
    """A controller on the test's own cluster, with a POD and the seed tenant; its base URL."""
    store = Store.open(pg_cluster.url.render_as_string(hide_password=False))
    base, stop = serve(store)
    try:
        with httpx.Client(base_url=base, headers=AUTH, timeout=HANG) as api:
            assert api.put("/v1/running-config", content=TEXT.encode()).status_code == 200
        yield base
    finally:
        stop()
        store.close()


@pytest.fixture
def api(controller: str) -> Iterator[tuple[httpx.Client, list[httpx.Response]]]:
    """A client of the controller, and every answer it got (none may be a 500)."""
    answers: list[httpx.Response] = []
    with httpx.Client(
        base_url=controller, headers=AUTH, timeout=HANG, event_hooks={"response": [answers.append]}
    ) as client:
        yield client, answers
    assert [
        (a.request.method, a.request.url.path) for a in answers if a.status_code >= 500 and a.status_code != 503
    ] == []


def _unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["message"].startswith(UNREACHABLE) and error["database"] == "unreachable", error
    assert int(answer.headers["retry-after"]) > 0


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


def _until(ask: Callable[[], httpx.Response], waiting: int = 503) -> httpx.Response:
    """Ask again (bounded) while the answer is `waiting`: the database, or a catch-up, is on its way back."""
    for _ in range(RECOVERY_TRIES):
        answer = ask()
        if answer.status_code != waiting:
            return answer
        time.sleep(0.2)
    return answer


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgresql_stops_and_returns_under_a_running_controller(
    pg_cluster: Cluster,  # noqa: F811
    api: tuple[httpx.Client, list[httpx.Response]],
    mode: str,
) -> None:
    client, _ = api
    assert client.put("/v1/tenants/before", json={}).status_code == 201
    config = client.get("/v1/running-config")
    head = int(config.headers["x-podswitch-revision"])
    desired = client.get("/v1/switches/leaf1/desired-state")
    assert desired.status_code == 200

    pg_cluster.stop(mode)

    # Writes, and reads that need the database: 503, saying why, promptly.
    status = {"applied_revision": head, "etag": desired.headers["etag"], "links": {}}
    operations = {"operations": [{"op": "put", "path": "/tenants/during2", "body": {}}]}
    for answer in (
        client.put("/v1/tenants/during", json={}),
        client.post("/v1/transactions", json=operations),
        client.put("/v1/running-config", content=(TEXT + "!\ntenant during3\n").encode()),
        client.delete("/v1/tenants/before"),
        client.put("/v1/switches/leaf1/status", json=status),
        client.get("/v1/history"),
        client.get("/v1/switches"),
    ):
        _unavailable(answer)
    # Reads of the intent and the agents' desired state: served from the controller's snapshot.
    assert client.get("/v1/running-config").text == config.text
    assert client.get("/v1/tenants/before").status_code == 200
    etag = desired.headers["etag"]
    assert client.get("/v1/switches/leaf1/desired-state", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/v1/switches/leaf1/desired-state").content == desired.content
    # An agent's long-poll waits its time out as usual (its watcher asks the database in vain meanwhile).
    waited = client.get("/v1/switches/leaf1/desired-state", params={"wait": "1"}, headers={"If-None-Match": etag})
    assert waited.status_code == 304
    # A report riding on it cannot be stored: the long-poll is still answered, and says so (sent again later).
    carrying = {"If-None-Match": etag, STATUS_HEADER: json.dumps(status | {"writes": 5})}
    waited = client.get("/v1/switches/leaf1/desired-state", params={"wait": "0.2"}, headers=carrying)
    assert waited.status_code == 304 and waited.headers[STATUS_REPORT_HEADER] == "failed"
    # Alive, and saying what is wrong.
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() | {"store_error": "", "store_since": ""} == {
        "status": "degraded",
        "revision": head,
        "store_revision": None,
        "objects": health.json()["objects"],
        "store": "unreachable",
        "store_error": "",
        "store_since": "",
    }
    assert health.json()["store_error"].startswith(UNREACHABLE)
    metrics = client.get("/metrics").text
    assert _metric(metrics, "podswitch_store_up") == 0
    assert _metric(metrics, 'podswitch_store_errors_total{kind="unreachable"}') >= 1

    pg_cluster.start()

    # The same controller, not restarted, takes writes again by itself.
    after = _until(lambda: client.put("/v1/tenants/after", json={}))
    assert after.status_code == 201, after.text
    assert after.headers["x-podswitch-revision"] == str(head + 1)  # nothing tried during the outage landed
    tenants = {t["name"] for t in client.get("/v1/tenants", params={"limit": 100}).json()["items"]}
    assert {"before", "after"} <= tenants and not {"during", "during2", "during3"} & tenants
    history = client.get("/v1/history", params={"limit": 100}).json()
    assert [h["revision"] for h in history] == list(range(head + 1, 0, -1))
    health = client.get("/healthz").json()
    assert (health["status"], health["store"], health["store_revision"]) == ("ok", "up", head + 1)
    assert _metric(client.get("/metrics").text, "podswitch_store_up") == 1
    assert client.put("/v1/switches/leaf1/status", json=status).status_code == 204
    stored = client.get("/v1/switches/leaf1/desired-state", params={"wait": "0.2"}, headers=carrying)
    assert stored.status_code == 304 and stored.headers[STATUS_REPORT_HEADER] == "stored"
    assert client.get("/v1/switches/leaf1/status").json()["writes"] == 5


def test_a_second_controller_catches_up_after_the_outage(pg_cluster: Cluster, controller: str) -> None:  # noqa: F811
    """Catching up with another controller's revisions fails quietly during the outage and works after it."""
    store = Store.open(pg_cluster.url.render_as_string(hide_password=False))
    other, stop = serve(store)
    try:
        with (
            httpx.Client(base_url=controller, headers=AUTH, timeout=HANG) as a,
            httpx.Client(base_url=other, headers=AUTH, timeout=HANG) as b,
        ):
            config = b.get("/v1/running-config")
            pg_cluster.stop()
            _unavailable(a.put("/v1/tenants/during", json={}))
            assert b.get("/v1/running-config").text == config.text
            pg_cluster.start()
            assert _until(lambda: a.put("/v1/tenants/after", json={})).status_code == 201
            # b found the database down and asks it again within a second: then it catches up with a's revision.
            assert _until(lambda: b.get("/v1/tenants/after"), waiting=404).status_code == 200
            assert b.get("/healthz").json()["store"] == "up"
    finally:
        stop()
        store.close()


def test_the_client_gets_the_database_fault_as_unavailable(
    pg_cluster: Cluster,  # noqa: F811
    controller: str,
) -> None:
    with Client(controller, token=TOKEN, retries=0) as client:
        desired = client.desired_state("leaf1")
        pg_cluster.stop()
        # The agent's own request is served from the snapshot: nothing changed, so 304.
        assert client.desired_state("leaf1", desired.etag).status == 304
        with pytest.raises(Unavailable) as caught:
            client.report_status("leaf1", {"applied_revision": 1, "etag": desired.etag, "links": {}})
        assert caught.value.retryable and caught.value.status == 503 and caught.value.retry_after
        assert caught.value.message.startswith(UNREACHABLE)


def test_an_agent_keeps_its_state_through_the_outage_and_reports_once_the_database_is_back(
    pg_cluster: Cluster,  # noqa: F811
    controller: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The agent's loop (fake time, real controller, real database): the outage never changes what it
    applied, its status reports fail with 503 and back off, and the report lands when the database is back."""
    stop = threading.Event()
    back = threading.Event()

    def reported() -> bool:
        if not back.is_set():
            return False
        answer = httpx.get(f"{controller}/v1/switches/leaf1/status", timeout=HANG)
        return answer.status_code == 200

    def restart() -> None:
        pg_cluster.start()
        back.set()

    fake = FakeTime(stop, limit=500, until=reported)  # the limit only stops a loop that never gets there
    fake.hooks[2] = pg_cluster.stop
    fake.hooks[20] = restart
    rec = FakeReconciler()
    caplog.set_level(logging.WARNING, logger="podswitch.agent")
    run("leaf1", None, [controller], token=TOKEN, interval=2.0, resync=5.0, stop=stop, sleep=fake.sleep,
        clock=fake.clock, rng=random.Random(7), reconciler=rec)  # fmt: skip
    assert reported(), "the agent's status never reached the controller after the database came back"
    # Every reconcile, during the outage too, applied the one state it had: nothing torn down or changed.
    assert len(rec.calls) > 2 and all(call == rec.calls[0] for call in rec.calls)
    failures = [r.getMessage() for r in caplog.records if "controller failed" in r.getMessage()]
    assert failures and all("HTTP 503: the database is unreachable" in f for f in failures)
