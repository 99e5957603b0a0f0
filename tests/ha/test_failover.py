"""HA on the real PostgreSQL: three `podswitch serve` processes on one database, clients and agents given
all three URLs. Exactly one leads the background duties; `kill -9` of the leader while writes and agent
syncs run hands the duties to another, loses no acknowledged write, answers no 5xx, and every agent ends on
the state the survivors serve."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL

from podswitch.client import Client
from podswitch.client.errors import ApiError
from podswitch.config import render
from podswitch.lab.process import PODSWITCH, ControllerProcess
from podswitch.model import Key, Kind, Tenant
from tests.builders import pod
from tests.lab.conftest import wait_for
from tests.store.conftest import empty_pg, pg_database  # noqa: F401  (fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CONTROLLERS = 3
WRITERS = 3
SYNCERS = 4


class Recording(httpx.HTTPTransport):
    """Every status any controller answered, seen below the client's retries and failover (which would
    otherwise hide a 5xx behind a successful retry)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


@pytest.fixture
def cluster(tmp_path: Path, pg_database: URL) -> Iterator[list[ControllerProcess]]:  # noqa: F811
    db = empty_pg(pg_database)
    token = secrets.token_hex(16)
    data = tmp_path / "data"
    started: list[ControllerProcess] = []
    try:
        for _ in range(CONTROLLERS):  # one after another: the first creates the schema
            started.append(ControllerProcess(data, token, db=db, log_level="info").start())
        yield started
    finally:
        for c in started:
            c.kill()


def _controllers(url: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{url}/v1/controllers", timeout=10).json())


def _leader(cluster: list[ControllerProcess], alive: list[ControllerProcess]) -> ControllerProcess | None:
    """The one live controller every live controller lists as leader, seen recently."""
    listed = _controllers(alive[0].url)
    leaders = [c for c in listed if c["leader"] and c["seconds_since_seen"] < 3]
    if len(leaders) != 1:
        return None
    port = int(leaders[0]["address"].rsplit(":", 1)[1])
    return next((c for c in alive if c.port == port), None)


def test_killing_the_leader_hands_over_the_duties_and_loses_nothing(cluster: list[ControllerProcess]) -> None:
    token = cluster[0].token
    leader = wait_for(lambda: _leader(cluster, cluster), 30, what="one leader among three controllers")
    # The leader first in every client's list: the kill hits requests in flight and forces failover.
    urls = [leader.url] + [c.url for c in cluster if c is not leader]
    recording = Recording()
    admin = Client(urls, token=token, actor="ha-test", retries=8, transport=recording)
    admin.replace_running_config(render(pod(spines=2, leaves=4)))
    switches = [s["name"] for s in admin.switches()]

    acked: list[str] = []
    failures: list[str] = []
    synced: dict[str, str] = {}
    rounds = [0] * SYNCERS
    stop, stop_writes = threading.Event(), threading.Event()

    def write(n: int) -> None:
        client = Client(urls, token=token, actor=f"writer{n}", retries=8, transport=recording)
        i = 0
        while not stop_writes.is_set():
            name = f"w{n}-{i}"
            try:
                client.put_object(Key(Kind.TENANT, name), Tenant(name=name))
                acked.append(name)
            except ApiError as exc:  # the write may or may not have landed; only acked ones must be there
                failures.append(f"{name}: {exc}")
            i += 1

    def sync(n: int) -> None:
        client = Client(urls, token=token, actor=f"agent{n}", retries=8, transport=recording)
        etags: dict[str, str | None] = dict.fromkeys(switches)
        while not stop.is_set():
            for switch in switches[n::SYNCERS]:
                try:
                    fetched = client.desired_state(switch, etags[switch], wait=0.5 if etags[switch] else 0)
                except ApiError as exc:
                    failures.append(f"sync {switch}: {exc}")
                    continue
                etags[switch] = fetched.etag
                synced[switch] = fetched.etag or ""
            rounds[n] += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    threads += [threading.Thread(target=sync, args=(n,)) for n in range(SYNCERS)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(acked) >= 30, 60, what="writes before the kill")
        before_kill = len(acked)
        leader.kill()  # SIGKILL: no clean sign-off, its lease goes with its database session
        survivors = [c for c in cluster if c is not leader]
        new_leader = wait_for(
            lambda: _leader(cluster, survivors), 30, what=f"a new leader among {[c.port for c in survivors]}"
        )
        assert new_leader is not leader
        wait_for(lambda: len(acked) >= before_kill + 30, 60, what="writes after the kill")
        stop_writes.set()
        for t in threads[:WRITERS]:
            t.join(timeout=60)
        # Two more rounds of every agent after the last write: then each holds the latest state.
        after = list(rounds)
        wait_for(lambda: all(r >= a + 2 for r, a in zip(rounds, after, strict=True)), 60, what="agents to sync")
    finally:
        stop_writes.set()
        stop.set()
        for t in threads:
            t.join(timeout=60)

    assert not [s for s in recording.statuses if s >= 500], "a controller answered 5xx"
    for survivor in survivors:
        stored = {t["name"] for t in Client(survivor.url).get_all("/v1/tenants")}
        assert set(acked) <= stored, f"acknowledged writes lost: {sorted(set(acked) - stored)[:10]}"
    # Every agent ends on what the survivors serve, and both survivors serve the same.
    served = [{s: Client(c.url).desired_state(s).etag for s in switches} for c in survivors]
    assert served[0] == served[1] == synced
    leaders = [c for c in _controllers(survivors[0].url) if c["leader"] and c["seconds_since_seen"] < 3]
    assert len(leaders) == 1
    # The operator's view, through the CLI given every URL, the dead controller's first.
    shown = subprocess.run(
        [*PODSWITCH, "show", "controllers", "--url", ",".join(urls)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("leader") == 1 and f":{new_leader.port} " in shown.stdout, shown.stdout
    print(f"acked {len(acked)} writes ({len(failures)} not acknowledged: {failures[:3]})")
