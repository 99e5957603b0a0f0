"""Push, not poll, and admission control, over real connections to controllers under uvicorn.

No timing is asserted: a long-poll that answers 200 with the new state was woken by the change (else it would
have waited out its `wait` and answered 304), and one that answers 304 was not woken by a change elsewhere."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from podswitch.api.admission import Admission
from podswitch.api.errors import Refused
from podswitch.client import Client
from podswitch.controller import Controller
from podswitch.store import Store
from tests.api.conftest import AUTH, SEED, TOKEN, serve
from tests.api.test_switches import POD

EP2 = "/v1/tenants/demo.openstack/segments/net_demo/endpoints/e2"
BODY = {
    "attachment_point": {"interface_group": "osvdev0013", "vlan": 300},
    "ips": ["10.66.16.3"],
    "mac": "fa:16:3e:00:00:02",
}


@pytest.fixture
def controllers(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start controllers on one SQLite store (the first loads the seed and a small POD)."""
    url = Store.default_url(tmp_path)
    stops: list[Callable[[], None]] = []
    stores: list[Store] = []

    def start(**app_args: Any) -> str:
        store = Store.open(url)
        stores.append(store)
        if len(stores) == 1:  # seed the store through a controller of its own, before serving
            Controller(store).replace(POD + "!\n" + SEED.read_text(), actor="test")
        base, stop = serve(store, **app_args)
        stops.append(stop)
        return base

    yield start
    for stop in stops:
        stop()
    for store in stores:
        store.close()


def etag_of(base: str, switch: str) -> str:
    return str(httpx.get(f"{base}/v1/switches/{switch}/desired-state").headers["etag"])


def long_poll(pool: ThreadPoolExecutor, base: str, switch: str, etag: str, wait: float) -> Future[httpx.Response]:
    return pool.submit(
        httpx.get,
        f"{base}/v1/switches/{switch}/desired-state",
        params={"wait": wait},
        headers={"If-None-Match": etag},
        timeout=wait + 30,
    )


def wait_until_waiting(base: str, count: int) -> None:
    """Until the controller reports `count` open long-polls (bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{base}/metrics").text
        if f"podswitch_long_polls_open {float(count)}" in metrics:
            return
        time.sleep(0.02)
    raise AssertionError(f"never {count} long-polls open")


def test_a_long_poll_answers_the_moment_its_switch_changes_and_only_then(controllers: Callable[..., str]) -> None:
    base = controllers()
    leaf1, leaf2 = etag_of(base, "leaf1"), etag_of(base, "leaf2")
    with ThreadPoolExecutor(2) as pool:
        changed = long_poll(pool, base, "leaf1", leaf1, wait=60)
        untouched = long_poll(pool, base, "leaf2", leaf2, wait=2)
        wait_until_waiting(base, 2)
        assert httpx.put(f"{base}{EP2}", json=BODY, headers=AUTH).status_code == 201  # an endpoint behind leaf1
        answer = changed.result()
        assert answer.status_code == 200 and answer.headers["etag"] != leaf1  # woken: the new state
        assert untouched.result().status_code == 304  # leaf2's state did not change: not woken
    assert "10.66.16.3" in answer.text


def test_a_revision_another_controller_commits_wakes_the_long_polls_here(controllers: Callable[..., str]) -> None:
    first = controllers()
    second = controllers()
    leaf1 = etag_of(second, "leaf1")
    with ThreadPoolExecutor(1) as pool:
        waiting = long_poll(pool, second, "leaf1", leaf1, wait=60)
        wait_until_waiting(second, 1)
        assert httpx.put(f"{first}{EP2}", json=BODY, headers=AUTH).status_code == 201  # on the other one
        assert waiting.result().status_code == 200
    # The running-config follows the same way: a watcher (the lab) learns of the next revision at once.
    client = Client(second, token=TOKEN)
    revision, _ = client.running_config()
    with ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(client.next_running_config, revision, wait=60)
        wait_until_waiting(second, 1)
        httpx.delete(f"{first}{EP2}", headers=AUTH).raise_for_status()
        got = nxt.result()
    assert got is not None and got[0] == revision + 1 and "endpoint e2" not in got[1]
    assert client.next_running_config(revision + 1, wait=0.2) is None  # nothing newer: 304


def test_admission_bounds_long_polls_and_documents_but_never_refuses_a_304(controllers: Callable[..., str]) -> None:
    base = controllers(admission=Admission(full_states=0, long_polls=1))
    leaf1 = etag_of(base, "leaf1")
    with ThreadPoolExecutor(1) as pool:
        first = long_poll(pool, base, "leaf1", leaf1, wait=3)
        wait_until_waiting(base, 1)
        refused = httpx.get(
            f"{base}/v1/switches/leaf2/desired-state", params={"wait": 3}, headers={"If-None-Match": '"x"' + leaf1}
        )
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "already waiting" in refused.json()["error"]["message"]
        # Without waiting, the agent holding the current state gets its 304 all the same.
        assert httpx.get(f"{base}/v1/switches/leaf1/desired-state", headers={"If-None-Match": leaf1}).status_code == 304
        assert first.result().status_code == 304
    assert 'podswitch_admission_refused_total{what="long_poll"} 1.0' in httpx.get(f"{base}/metrics").text


def test_at_most_n_documents_are_being_sent_and_each_slot_comes_back() -> None:
    admission = Admission(full_states=2, retry_after=1.0)
    sending = [admission.full_state(b"{}", {"ETag": '"a"'}) for _ in range(2)]
    with pytest.raises(Refused) as busy:
        admission.full_state(b"{}", {"ETag": '"a"'})
    assert busy.value.status == 429 and busy.value.headers and int(busy.value.headers["Retry-After"]) >= 1

    async def sent(response: Any) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            pass

        await response({"type": "http"}, receive, send)

    asyncio.run(sent(sending[0]))  # sent: its slot is free again
    admission.full_state(b"{}", {"ETag": '"a"'})
    with pytest.raises(Refused):
        admission.full_state(b"{}", {"ETag": '"a"'})


def test_an_agent_holding_its_state_is_woken_with_a_delta_and_never_keeps_one_that_does_not_fit(
    controllers: Callable[..., str],
) -> None:
    base = controllers()
    client = Client(base, token=TOKEN)
    first = client.desired_state("leaf1")
    assert first.status == 200 and first.desired is not None and first.etag is not None
    held = first.desired
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.desired_state, "leaf1", first.etag, wait=60, held=held)
        wait_until_waiting(base, 1)
        assert httpx.put(f"{base}{EP2}", json=BODY, headers=AUTH).status_code == 201
        pushed = waiting.result()
    full = client.desired_state("leaf1")
    assert pushed.status == 226 and pushed.desired == full.desired and pushed.etag == full.etag
    # A held state that is not what its ETag says (a bug, a corrupted cache): the delta does not give the
    # state it names, so the whole state is fetched instead.
    assert held.state.attachments
    wrong = dataclasses.replace(held, state=dataclasses.replace(held.state, attachments=()))
    fetched = client.desired_state("leaf1", first.etag, held=wrong)
    assert fetched.status == 200 and fetched.desired == full.desired
    assert client.desired_state("leaf1", full.etag, held=full.desired).status == 304
