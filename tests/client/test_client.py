"""podswitch.client against a real controller (typed calls, typed errors, consistency listing) and against
small HTTP servers that misbehave on purpose (failover, Retry-After, which requests are retried)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from podswitch.client import (
    Backoff,
    Client,
    Conflict,
    Invalid,
    Missing,
    PreconditionFailed,
    Unauthorized,
    Unavailable,
)
from podswitch.model import Delete, Endpoint, Key, Kind, Put, Segment, Tenant
from podswitch.model.paths import digest
from tests.api.conftest import TOKEN
from tests.api.test_front_door import live  # noqa: F401  (fixture: the controller under uvicorn)

DEMO = "demo.openstack"
SEG = Key(Kind.SEGMENT, DEMO, "net_demo")


def test_typed_calls_and_typed_errors_against_a_real_controller(live: str) -> None:  # noqa: F811
    client = Client(live, token=TOKEN, actor="test-client")
    ep = Endpoint(id="e9", ips=("10.66.16.9",), mac="fa:16:3e:00:00:09")
    key = Key(Kind.ENDPOINT, DEMO, "net_demo", "e9")
    written = client.put_object(key, ep)
    assert written.changed and client.get_object(key) == ep
    assert not client.put_object(key, ep).changed  # idempotent
    assert client.history(1)[0]["actor"] == "test-client"
    with pytest.raises(Conflict) as conflict:  # the seed endpoint has 10.66.16.2
        client.put_object(Key(Kind.ENDPOINT, DEMO, "net_demo", "e10"), Endpoint(id="e10", ips=("10.66.16.2",)))
    assert "already used" in conflict.value.message and conflict.value.status == 409
    with pytest.raises(Missing):
        client.get_object(Key(Kind.TENANT, "nobody"))
    client.delete_object(key)
    client.delete_object(key, missing_ok=True)
    with pytest.raises(Missing):
        client.delete_object(key)
    revision = client.revision()
    with pytest.raises(PreconditionFailed) as stale:
        client.transaction([Put(Key(Kind.TENANT, "t2"), Tenant(name="t2"))], if_revision=revision - 1)
    assert stale.value.revision == revision
    with pytest.raises(Invalid) as invalid:
        client.transaction_document({"operations": [{"op": "put", "path": "/tenants/x/nonsense", "body": {}}]})
    assert invalid.value.operation == 0 and invalid.value.body["field"] == "path"
    with pytest.raises(Unauthorized):
        Client(live).put_object(Key(Kind.TENANT, "t3"), Tenant(name="t3"))
    result = client.transaction(
        [Put(Key(Kind.TENANT, "t2"), Tenant(name="t2")), Put(Key(Kind.SEGMENT, "t2", "s"), Segment(name="s"))]
    )
    assert result["changed"] and client.get_object(Key(Kind.SEGMENT, "t2", "s")) == Segment(name="s")


def test_owned_lists_one_origination_with_the_digest_of_what_would_be_put(live: str) -> None:  # noqa: F811
    client = Client(live, token=TOKEN)
    owned = client.owned("openstack")
    kinds = [o.key.kind for o in owned]
    assert kinds == [Kind.TENANT, Kind.LOGICAL_ROUTER, Kind.SEGMENT, Kind.ENDPOINT]  # parents first
    for item in owned:
        assert item.object() == client.get_object(item.key)
        assert item.digest == digest(item.key, item.object())
    [member] = client.owned("openstackdev")
    assert member.key.kind == Kind.MEMBER
    # a change the orchestrator did not make shows as a different digest
    seg = owned[2]
    client.put_object(seg.key, Segment(name="net_demo", id="changed-by-hand", origination="openstack"))
    again = {o.key: o.digest for o in client.owned("openstack", Kind.SEGMENT)}
    assert again[seg.key] != seg.digest


class Misbehaving(BaseHTTPRequestHandler):
    """Answers from a script: each request pops the next (status, headers); then 200 with `{}`."""

    script: list[tuple[int, dict[str, str]]]
    seen: list[str]

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, headers = self.script.pop(0) if self.script else (200, {})
        body = json.dumps({"error": {"message": "busy"}} if status >= 400 else {"revision": 1}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


def serve(script: list[tuple[int, dict[str, str]]]) -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []
    handler = type("Handler", (Misbehaving,), {"script": script, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def servers() -> Iterator[list[tuple[ThreadingHTTPServer, list[str]]]]:
    made: list[tuple[ThreadingHTTPServer, list[str]]] = []
    yield made
    for server, _ in made:
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_fails_over_and_waits_at_least_what_retry_after_says(servers: list[Any]) -> None:
    busy = serve([(503, {"Retry-After": "2"})])
    fine = serve([])
    servers += [busy, fine]
    sleeps: list[float] = []
    client = Client([_url(busy[0]), _url(fine[0])], sleep=sleeps.append, backoff=Backoff(0.5, 4.0, random.Random(1)))
    assert client.revision() == 1
    assert len(sleeps) == 1 and 2.0 <= sleeps[0] <= 2.5  # Retry-After is the floor, jitter on top
    assert client.url == _url(fine[0])  # and the next calls go to the one that answered
    assert busy[1] == ["GET /healthz"] and fine[1] == ["GET /healthz"]


def test_retries_are_capped_and_only_for_what_is_safe_to_send_twice(servers: list[Any]) -> None:
    always_busy = serve([(503, {})] * 20)
    servers.append(always_busy)
    sleeps: list[float] = []
    client = Client(_url(always_busy[0]), retries=3, sleep=sleeps.append, backoff=Backoff(0.5, 1.0, random.Random(2)))
    safe = [Put(Key(Kind.TENANT, "t"), Tenant(name="t")), Delete(Key(Kind.TENANT, "u"), missing_ok=True)]
    with pytest.raises(Unavailable):
        client.transaction(safe)
    assert len(always_busy[1]) == 4 and len(sleeps) == 3 and max(sleeps) <= 1.0  # capped window
    always_busy[1].clear()
    for unsafe in ([Put(Key(Kind.TENANT, "t"), Tenant(name="t"), create_only=True)], [Delete(Key(Kind.TENANT, "u"))]):
        with pytest.raises(Unavailable):
            client.transaction(unsafe)
    assert len(always_busy[1]) == 2  # once each: a retry could report a success as a conflict
    always_busy[1].clear()
    with pytest.raises(Unavailable):
        client.replace_running_config("tenant t\n")  # unconditional replace: never retried
    assert len(always_busy[1]) == 1
