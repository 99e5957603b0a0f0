"""The agent and the desired-state formats: it follows the controller's sync hints (format 2) unless told
otherwise, reads a format-1 document from a controller not upgraded yet, and reports a 406 (a controller
that no longer serves its format) as "upgrade the agent", keeping its switch as last programmed.

Against the fake controller and fake time of test_client.py: delays are asserted, never wall time."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson

from podswitch.agent.main import run
from podswitch.fabric.state import FORMAT_HEADER, DesiredState, Sync, serialize
from tests.agent.test_client import (
    SWITCH,
    FakeController,
    FakeReconciler,
    FakeTime,
    MaxRng,
    Seen,
    make_state,
    serve,
)

HINTS = Sync(long_poll=7.0, resync=45.0)


def go(url: str, t: FakeTime, rec: FakeReconciler, **kw: Any) -> None:
    run(SWITCH, None, [url], interval=2.0, stop=t.stop, sleep=t.sleep, clock=t.clock, reconciler=rec,
        rng=random.Random(1), **kw)  # fmt: skip


def waits(fake: FakeController) -> list[str | None]:
    """The ?wait= of each GET (None: an ordinary request)."""
    return [g.path.partition("wait=")[2] or None for g in fake.requests("GET")]


def hinted(revision: int) -> DesiredState:
    return replace(make_state(revision), sync=HINTS)


def test_the_agent_follows_the_controllers_hints_unless_given_its_own() -> None:
    runs = {}
    for given in ({"push": None, "resync": None}, {"push": 0.0, "resync": 30.0}):
        fake = FakeController(desired=hinted(1))
        t = FakeTime(threading.Event(), limit=1000)
        t.until = lambda t=t: t.now >= 1100.0
        rec = FakeReconciler()
        with serve(fake) as url:
            go(url, t, rec, **given)
        runs[given["push"]] = fake, rec
    fake, rec = runs[None]
    # Long-polls of the hinted length once a state is applied; drift repairs every 45 s (at ~0, 45, 90).
    assert waits(fake)[0] is None and set(waits(fake)[1:]) == {"7"}
    assert len(rec.calls) == 3
    fake, rec = runs[0.0]
    # Its own flags win: it polls, and repairs every 30 s (at ~0, 30, 60, 90).
    assert set(waits(fake)) == {None} and len(rec.calls) == 4


@dataclass
class HintingController(FakeController):
    """Its ETag covers the hints, as the real controller's does (fabric/formats.py)."""

    def tag(self, desired: DesiredState) -> str:
        return f'"{desired.etag}-{desired.sync}"'


def test_new_hints_apply_without_a_reconcile() -> None:
    fake = HintingController(desired=make_state(1))  # no hints yet
    t = FakeTime(threading.Event(), limit=6)
    rec = FakeReconciler()

    def tune() -> None:
        fake.desired = replace(make_state(1), sync=Sync(long_poll=3.0, resync=30.0))

    t.hooks[3] = tune
    with serve(fake) as url:
        go(url, t, rec, push=None, resync=None)
    # The default long-poll (30 s) until the controller says 3; the same state is not reconciled again.
    assert waits(fake)[1] == "30" and waits(fake)[-1] == "3" and len(rec.calls) == 1


@dataclass
class FormatOneController(FakeController):
    """Serves format 1, as a controller not upgraded yet does: no `sync` field at all."""

    def body(self, desired: DesiredState) -> bytes:
        document = orjson.loads(serialize(desired))
        del document["sync"]
        document["format"] = 1
        return orjson.dumps(document)


def test_a_format_one_document_is_applied() -> None:
    fake = FormatOneController(desired=make_state(3))
    t = FakeTime(threading.Event(), limit=4)
    rec = FakeReconciler()
    with serve(fake) as url:
        go(url, t, rec, push=None, resync=None)
    assert len(rec.calls) == 1 and rec.calls[0] == make_state(3).state
    report = fake.requests("PUT")[0].body
    assert report["errors"] == [] and report["applied_revision"] == 3
    assert waits(fake)[1] == "30"  # no hints: the agent's defaults
    assert all(g.headers[FORMAT_HEADER.lower()] == "2" for g in fake.requests("GET"))


@dataclass
class NotServingController(FakeController):
    """Answers every desired-state request 406, as a controller that no longer serves this agent's format."""

    message: str = "this controller serves desired-state formats 3 to 4: upgrade the agent."

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if method == "PUT":
            super().handle(h, method)
            return
        with self.lock:
            self.seen.append(Seen(method, h.path, {k.lower(): v for k, v in h.headers.items()}, None))
        body = orjson.dumps({"error": {"message": self.message, "field": FORMAT_HEADER, "formats": [3, 4]}})
        h.send_response(406)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def test_a_406_is_reported_as_upgrade_the_agent_and_backed_off() -> None:
    fake = NotServingController(desired=make_state(1))
    t = FakeTime(threading.Event(), limit=5)
    rec = FakeReconciler()
    with serve(fake) as url:
        run(SWITCH, None, [url], interval=2.0, stop=t.stop, sleep=t.sleep, clock=t.clock, reconciler=rec, rng=MaxRng())
    assert rec.calls == []  # nothing applied: the switch stays as last programmed
    reports = [p.body for p in fake.requests("PUT")]
    assert reports and all("HTTP 406" in r["errors"][0] and "upgrade the agent" in r["errors"][0] for r in reports)
    assert t.delays[1:4] == [0.5, 1.0, 2.0]  # it does not ask harder than for any failure
