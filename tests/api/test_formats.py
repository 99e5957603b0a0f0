"""A controller serves each agent the desired-state format it reads (X-Podswitch-State-Format): the newest it
produces that is not newer, 406 for an agent older than all of them; ETags per format; the sync hints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from podswitch.api import hints
from podswitch.api.app import create_app
from podswitch.controller import Controller
from podswitch.fabric import formats
from podswitch.fabric.delta import DELTA_IM, apply_delta
from podswitch.fabric.state import FORMAT, FORMAT_HEADER, Sync, parse_desired
from podswitch.store import Store
from tests.api.conftest import AUTH, TOKEN
from tests.api.test_running_config import put_config
from tests.api.test_switches import POD

LEAF1 = "/v1/switches/leaf1/desired-state"
EP2 = "/v1/tenants/demo.openstack/segments/net_demo/endpoints/e2"


def fetch(client: TestClient, format: int | None, held: str | None = None, path: str = LEAF1) -> Any:
    headers = {} if format is None else {FORMAT_HEADER: str(format)}
    if held is not None:
        headers["If-None-Match"] = held
    return client.get(path, headers=headers)


@pytest.fixture
def seeded(client: TestClient, seed_text: str) -> TestClient:
    put_config(client, POD + "!\n" + seed_text)
    return client


def test_each_agent_gets_the_format_it_reads(seeded: TestClient) -> None:
    answers = {f: fetch(seeded, f) for f in (None, 1, 2, 7)}
    assert {f: r.status_code for f, r in answers.items()} == {None: 200, 1: 200, 2: 200, 7: 200}
    served = {f: orjson.loads(r.content)["format"] for f, r in answers.items()}
    assert served == {None: FORMAT, 1: 1, 2: 2, 7: FORMAT}  # no header: the current one (people and tools)
    assert {f: r.headers[FORMAT_HEADER] for f, r in answers.items()} == {f: str(v) for f, v in served.items()}
    assert all(r.headers["vary"] == FORMAT_HEADER for r in answers.values())
    one, two = parse_desired(answers[1].content), parse_desired(answers[2].content)
    assert one.sync is None and two.sync == Sync() and "sync" not in orjson.loads(answers[1].content)
    assert (one.etag, one.state) == (two.etag, two.state)  # the same state, the same hash in the body
    # Format 1's ETag is what format-1 controllers sent (the state's hash); format 2's is its own.
    assert answers[1].headers["etag"] == f'"{one.etag}"' != answers[2].headers["etag"]


def test_a_304_for_one_format_is_never_the_answer_to_another(seeded: TestClient) -> None:
    tag = {f: fetch(seeded, f).headers["etag"] for f in (1, 2)}
    assert fetch(seeded, 1, tag[1]).status_code == 304 and fetch(seeded, 2, tag[2]).status_code == 304
    assert fetch(seeded, 2, tag[1]).status_code == 200  # an agent that held format 1 and now reads 2
    assert fetch(seeded, 1, tag[2]).status_code == 200
    # A change on leaf1 moves both; none on leaf2 keeps both.
    leaf2 = "/v1/switches/leaf2/desired-state"
    tag2 = {f: fetch(seeded, f, path=leaf2).headers["etag"] for f in (1, 2)}
    ep = {"attachment_point": {"interface_group": "osvdev0013", "vlan": 300}, "ips": ["10.66.16.3"]}
    assert seeded.put(EP2, json={**ep, "mac": "fa:16:3e:00:00:02"}).status_code == 201
    assert [fetch(seeded, f, tag[f]).status_code for f in (1, 2)] == [200, 200]
    assert [fetch(seeded, f, tag2[f], leaf2).status_code for f in (1, 2)] == [304, 304]


def test_an_agent_older_than_every_format_served_is_told_to_upgrade(
    seeded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "DOWNGRADES", {})  # a controller that no longer produces format 1
    r = fetch(seeded, 1)
    assert r.status_code == 406
    error = r.json()["error"]
    assert error["field"] == FORMAT_HEADER and error["asked"] == 1 and error["formats"] == [2]
    assert "upgrade the agent" in error["message"] and "format 1" in error["message"]
    assert fetch(seeded, 2).status_code == 200 and fetch(seeded, None).status_code == 200
    # Even a long-poll is refused at once, before it waits.
    assert (
        seeded.get(LEAF1, params={"wait": "60"}, headers={FORMAT_HEADER: "1", "If-None-Match": '"x"'}).status_code
        == 406
    )


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_a_malformed_format_header_is_a_422_naming_it(seeded: TestClient, value: str) -> None:
    r = seeded.get(LEAF1, headers={FORMAT_HEADER: value})
    assert r.status_code == 422 and r.json()["error"]["field"] == FORMAT_HEADER, (value, r.text)


def test_the_downgrade_that_changes_the_state_runs_once_per_switch_state(
    seeded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []

    def counted(state: bytes) -> bytes:
        calls.append(state)
        return state

    monkeypatch.setattr(formats, "DOWNGRADES", {2: formats.Step(formats.DOWNGRADES[2].envelope, counted)})
    first = [fetch(seeded, 1, path=f"/v1/switches/{s}/desired-state").status_code for s in ("leaf1", "leaf1", "leaf2")]
    assert first == [200, 200, 200] and len(calls) == 2  # per switch, not per request
    assert fetch(seeded, 2).status_code == 200 and len(calls) == 2  # the current format needs none
    ep = {"attachment_point": {"interface_group": "osvdev0013", "vlan": 300}, "ips": ["10.66.16.3"]}
    assert seeded.put(EP2, json={**ep, "mac": "fa:16:3e:00:00:02"}).status_code == 201
    for s in ("leaf1", "leaf2", "leaf1"):
        assert fetch(seeded, 1, path=f"/v1/switches/{s}/desired-state").status_code == 200
    assert len(calls) == 3  # leaf1 changed: once more; leaf2 did not (a new revision, the same state)


def test_the_controllers_sync_hints_are_in_every_format_two_document(tmp_path: Path, seed_text: str) -> None:
    store = Store.open(Store.default_url(tmp_path))
    try:
        Controller(store).replace(POD + "!\n" + seed_text, actor="test")
        tuned = TestClient(create_app(store, TOKEN, sync=Sync(long_poll=5.0, resync=120.0)), headers=AUTH)
        default = TestClient(create_app(store, TOKEN), headers=AUTH)
        assert parse_desired(fetch(tuned, 2).content).sync == Sync(long_poll=5.0, resync=120.0)
        # New hints are a new ETag: agents holding the state get it again, with the hints.
        held = fetch(default, 2).headers["etag"]
        assert fetch(tuned, 2, held).status_code == 200 and fetch(default, 2, held).status_code == 304
        # Format 1 has no hints: its ETag is the same on both.
        assert fetch(tuned, 1).headers["etag"] == fetch(default, 1).headers["etag"]
    finally:
        store.close()


def test_hints_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hints.from_env() == Sync()
    monkeypatch.setenv(hints.LONG_POLL_ENV, "0")
    monkeypatch.setenv(hints.RESYNC_ENV, "300")
    assert hints.from_env() == Sync(long_poll=0.0, resync=300.0)
    monkeypatch.setenv(hints.LONG_POLL_ENV, "121")
    with pytest.raises(ValueError, match=hints.LONG_POLL_ENV):
        hints.from_env()
    monkeypatch.setenv(hints.LONG_POLL_ENV, "30")
    monkeypatch.setenv(hints.RESYNC_ENV, "0")
    with pytest.raises(ValueError, match=hints.RESYNC_ENV):
        hints.from_env()


def test_formats_served_are_counted(seeded: TestClient) -> None:
    def sent(format: int) -> float:
        for line in seeded.get("/metrics").text.splitlines():
            if line.startswith(f'podswitch_desired_state_formats_total{{format="{format}"}}'):
                return float(line.split()[-1])
        return 0.0

    before = sent(1), sent(2)
    fetch(seeded, 1)
    fetch(seeded, 1)
    fetch(seeded, 2)
    assert (sent(1), sent(2)) == (before[0] + 2, before[1] + 1)


def test_a_delta_only_in_the_current_format_against_a_document_of_the_same_format_and_hints(
    tmp_path: Path, seed_text: str
) -> None:
    store = Store.open(Store.default_url(tmp_path))
    try:
        Controller(store).replace(POD + "!\n" + seed_text, actor="test")
        hinted = Sync(long_poll=5.0, resync=120.0)
        tuned = TestClient(create_app(store, TOKEN, sync=hinted), headers=AUTH)
        default = TestClient(create_app(store, TOKEN), headers=AUTH)
        before = {f: fetch(tuned, f) for f in (1, 2)}  # what agents of each format hold (and compiled here)
        other_hints = fetch(default, 2).headers["etag"]
        ep = {"attachment_point": {"interface_group": "osvdev0013", "vlan": 300}, "ips": ["10.66.16.3"]}
        assert tuned.put(EP2, json={**ep, "mac": "fa:16:3e:00:00:02"}).status_code == 201
        full = fetch(tuned, 2)

        def asked(format: int, held: str) -> Any:
            headers = {FORMAT_HEADER: str(format), "If-None-Match": held, "A-IM": DELTA_IM}
            return tuned.get(LEAF1, headers=headers)

        r = asked(2, before[2].headers["etag"])
        assert r.status_code == 226 and r.headers["im"] == DELTA_IM
        # The ETag is format 2's validator, the same as the whole document's; the delta carries the hints.
        assert r.headers["etag"] == full.headers["etag"] and r.headers[FORMAT_HEADER] == "2"
        assert r.headers["delta-base"] == before[2].headers["etag"] and "compile;dur=" in r.headers["server-timing"]
        made = apply_delta(parse_desired(before[2].content), r.content)
        assert made == parse_desired(full.content) and made.sync == hinted
        assert orjson.loads(r.content)["base"] == orjson.loads(before[2].content)["etag"] != made.etag
        # Held under other hints, or in format 1: the state is known, the document is not: the whole one.
        assert asked(2, other_hints).status_code == 200
        r = asked(2, before[1].headers["etag"])
        assert r.status_code == 200 and r.content == full.content
        # An agent served an older format never gets a delta (nor does one of today's ask for it).
        r = asked(1, before[1].headers["etag"])
        assert r.status_code == 200 and orjson.loads(r.content)["format"] == 1
        assert asked(2, full.headers["etag"]).status_code == 304
    finally:
        store.close()
