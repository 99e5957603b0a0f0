"""The sync client and agent loop against a tiny fake controller (http.server on 127.0.0.1:0).

Time is fake: the loop's `sleep` seam records every delay it asks for and advances a fake clock, so the
tests assert on the sequence of requested delays, never on wall time."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import random
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from podswitch import __version__
from podswitch.agent.main import run
from podswitch.agent.reconcile import Reconciler, Result
from podswitch.client import Backoff, Client, Unavailable, parse_retry_after
from podswitch.fabric.state import (
    FORMAT,
    FORMAT_HEADER,
    READS,
    STATUS_HEADER,
    STATUS_REPORT_HEADER,
    DesiredState,
    FabricPort,
    SegmentBridge,
    SwitchState,
    serialize,
)
from podswitch.lab.process import free_port

SWITCH = "l1"


def make_state(revision: int, vni: int = 10300) -> DesiredState:
    st = SwitchState(
        switch=SWITCH,
        role="leaf",
        loopback="10.255.0.1",
        bridges=(SegmentBridge(vni=vni, tenant="t", segment="s", bridge=f"br{vni}", vxlan=f"vx{vni}"),),
    )
    return DesiredState(revision=revision, etag=f"etag-{revision}-{vni}", state=st)  # fmt: skip


# ---- fake controller ------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeController:
    """Serves `desired` with ETag and 304 on If-None-Match; `failures` is a queue of canned error
    answers (status, headers) consumed one per request before normal service resumes."""

    desired: DesiredState | None = None
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    put_failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # consumed by PUTs only
    failure_body: bytes = b""  # what a canned error answer says
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Takes status reports on desired-state requests (as this release's controller does); each one carried is
    # answered with the next of `reports` ("stored" once they run out). None: an older controller.
    reports: list[str] | None = None
    # A long-poll that finds nothing new waits this long on the agent's fake clock before its 304.
    waits: tuple[FakeTime, float] | None = None

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self.lock:
            self.seen.append(Seen(method, h.path, {k.lower(): v for k, v in h.headers.items()},
                                  json.loads(raw) if raw else None))  # fmt: skip
            failure = self.failures.pop(0) if self.failures else None
            if failure is None and method == "PUT" and self.put_failures:
                failure = self.put_failures.pop(0)
            desired = self.desired
        if failure is not None:
            status, headers = failure
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("content-length", str(len(self.failure_body)))
            h.end_headers()
            h.wfile.write(self.failure_body)
            return
        path = h.path.split("?")[0]  # ?wait= of a long-poll (answered at once here)
        if method == "GET" and path == f"/v1/switches/{SWITCH}/desired-state" and desired is not None:
            tag = self.tag(desired)
            report = None
            if self.reports is not None:
                carried = h.headers.get(STATUS_HEADER) is not None
                report = (self.reports.pop(0) if self.reports else "stored") if carried else "none"
                if report.isdigit():  # the controller refuses the report (and so the request)
                    h.send_response(int(report))
                    h.send_header("content-length", "0")
                    h.end_headers()
                    return
            if h.headers.get("if-none-match") == tag:
                if self.waits is not None and "wait=" in h.path:
                    self.waits[0].now += self.waits[1]
                h.send_response(304)
                h.send_header("etag", tag)
                if report is not None:
                    h.send_header(STATUS_REPORT_HEADER, report)
                h.end_headers()
                return
            body = self.body(desired)
            h.send_response(200)
            if report is not None:
                h.send_header(STATUS_REPORT_HEADER, report)
            h.send_header("etag", tag)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if method == "PUT" and h.path == f"/v1/switches/{SWITCH}/status":
            h.send_response(204)
            h.end_headers()
            return
        h.send_response(404)
        h.send_header("content-length", "0")
        h.end_headers()

    def body(self, desired: DesiredState) -> bytes:
        return serialize(desired)

    def tag(self, desired: DesiredState) -> str:
        return f'"{desired.etag}"'

    def requests(self, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if method is None or s.method == method]


@contextlib.contextmanager
def serve(fake: FakeController) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            fake.handle(self, "GET")

        def do_PUT(self) -> None:
            fake.handle(self, "PUT")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def dead_url() -> str:
    """A URL nobody listens on (a port we bound and closed)."""
    return f"http://127.0.0.1:{free_port()}"


# ---- fake time and kernel ------------------------------------------------------------------------


class FakeTime:
    """`sleep` records the delay, advances `now`, and stops the loop after `limit` sleeps (or when
    `until()` says so)."""

    def __init__(self, stop: threading.Event, limit: int, until: Any = None) -> None:
        self.now = 1000.0
        self.delays: list[float] = []
        self.stop, self.limit, self.until = stop, limit, until
        self.hooks: dict[int, Any] = {}  # sleep number -> callable, run before that sleep returns

    def clock(self) -> float:
        return self.now

    def sleep(self, delay: float) -> None:
        assert delay >= 0
        self.delays.append(delay)
        self.now += delay
        hook = self.hooks.get(len(self.delays))
        if hook is not None:
            hook()
        if len(self.delays) >= self.limit or (self.until is not None and self.until()):
            self.stop.set()


class FakeReconciler:
    def __init__(self) -> None:
        self.calls: list[SwitchState] = []

    def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result:
        self.calls.append(desired)
        return Result(switch=desired.switch, netns="x", writes=3 if len(self.calls) == 1 else 0,
                      links={"up1": "up", "swp1": "down"})  # fmt: skip

    def close(self) -> None:
        pass


class MaxRng(random.Random):
    """Always the top of the jitter window, to see the window itself."""

    def uniform(self, a: float, b: float) -> float:
        return b


def drive(controllers: list[str], fake_time: FakeTime, rec: Any, **kw: Any) -> None:
    run(SWITCH, None, controllers, token="s3cret", interval=2.0, resync=30.0, stop=fake_time.stop,
        sleep=fake_time.sleep, clock=fake_time.clock, reconciler=rec, **kw)  # fmt: skip


# ---- tests ---------------------------------------------------------------------------------------


def test_etag_304_and_status_report() -> None:
    fake = FakeController(desired=make_state(7))
    stop = threading.Event()
    t = FakeTime(stop, limit=5)
    rec = FakeReconciler()
    with serve(fake) as url:
        drive([url], t, rec, rng=random.Random(1))
    gets = fake.requests("GET")
    assert len(gets) == 4  # the 5th sleep ends the loop
    assert "if-none-match" not in gets[0].headers
    assert all(g.headers.get("if-none-match") == '"etag-7-10300"' for g in gets[1:])
    assert all(g.headers.get("authorization") == "Bearer s3cret" for g in gets)
    assert len(rec.calls) == 1  # 304s cost nothing
    puts = fake.requests("PUT")
    assert len(puts) == 1
    body = puts[0].body
    assert body["applied_revision"] == 7 and body["etag"] == "etag-7-10300"
    assert body["errors"] == [] and body["writes"] == 3
    assert body["links"] == {"up1": "up", "swp1": "down"}
    assert body["agent"] == {"version": __version__, "pid": os.getpid(), "state_format": FORMAT}
    assert all(g.headers.get(FORMAT_HEADER.lower()) == str(FORMAT) for g in gets)
    assert body["reconciled_at"].endswith("Z") and "T" in body["reconciled_at"]
    # First poll at a random point of the first interval, then every interval.
    assert 0 <= t.delays[0] <= 2.0 and t.delays[1:] == [2.0] * 4


def carried(seen: Seen) -> dict[str, Any] | None:
    text = seen.headers.get(STATUS_HEADER.lower())
    return None if text is None else json.loads(text)


def test_a_pushed_agent_carries_its_report_on_its_next_request() -> None:
    fake = FakeController(desired=make_state(7), reports=[])
    stop = threading.Event()
    t = FakeTime(stop, limit=6)
    fake.waits = (t, 10.0)  # less than the resync period: no drift repair (and its report) in between
    t.hooks[3] = lambda: setattr(fake, "desired", make_state(8))
    with serve(fake) as url:
        drive([url], t, FakeReconciler(), rng=MaxRng(), push=30.0)
    assert fake.requests("PUT") == []  # one request per change, not two
    gets = fake.requests("GET")
    reports = [carried(g) for g in gets]
    # the first state, then its report on the next request (which waits), then the next state, its report
    assert reports[0] is None and reports[1] is not None and reports[1]["applied_revision"] == 7
    assert reports[1]["writes"] == 3 and reports[1]["links"] == {"up1": "up", "swp1": "down"}
    assert reports[1]["agent"]["state_format"] == FORMAT and reports[1]["reconciled_at"].endswith("Z")
    assert [r["applied_revision"] if r else None for r in reports] == [None, 7, None, 8, None, None][: len(gets)]
    assert all(g.headers.get("authorization") == "Bearer s3cret" for g in gets)


def test_a_report_the_controller_could_not_store_is_carried_again() -> None:
    fake = FakeController(desired=make_state(7), reports=["failed", "failed"])
    stop = threading.Event()
    t = FakeTime(stop, limit=6)
    fake.waits = (t, 5.0)
    with serve(fake) as url:
        drive([url], t, FakeReconciler(), rng=MaxRng(), push=30.0)
    reports = [carried(g) for g in fake.requests("GET")]
    assert [r["applied_revision"] if r else None for r in reports] == [None, 7, 7, 7, None]
    assert fake.requests("PUT") == []


def test_a_refused_report_never_keeps_the_state_from_coming() -> None:
    """A controller that refuses the report riding on a request (a wrong token, say: the state itself needs
    none) still gets asked for the state at once, without it; reports then go by PUT, refused as such."""
    fake = FakeController(desired=make_state(7), reports=["401"], put_failures=[(401, {})])
    stop = threading.Event()
    t = FakeTime(stop, limit=7)
    fake.waits = (t, 10.0)
    t.hooks[4] = lambda: setattr(fake, "desired", make_state(8))
    rec = FakeReconciler()
    with serve(fake) as url:
        drive([url], t, rec, rng=MaxRng(), push=30.0)
    assert [s.body["applied_revision"] for s in fake.requests("PUT")] == [7, 8]
    gets = fake.requests("GET")
    assert [carried(g) is not None for g in gets] == [False, True] + [False] * (len(gets) - 2)
    assert len(rec.calls) == 2  # both states applied
    assert t.delays[2] == 0.0  # no backoff: asked again at once


@pytest.mark.parametrize(
    ("reports", "push", "links", "why"),
    [
        (None, 30.0, 2, "an older controller takes no report on its desired-state requests"),
        ([], 0.0, 2, "polling: the next request is an interval away"),
        ([], 30.0, 400, "a report too long for a request's headers"),
    ],
)
def test_the_report_goes_by_itself_when_it_cannot_ride(
    reports: list[str] | None, push: float, links: int, why: str
) -> None:
    class ManyLinks(FakeReconciler):
        def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result:
            self.calls.append(desired)
            return Result(
                switch=desired.switch, netns="x", links={f"port-{i:04d}-breakout": "up" for i in range(links)}
            )

    fake = FakeController(desired=make_state(7), reports=reports)
    stop = threading.Event()
    t = FakeTime(stop, limit=4)
    fake.waits = (t, 10.0)
    with serve(fake) as url:
        drive([url], t, ManyLinks(), rng=MaxRng(), push=push)
    puts = fake.requests("PUT")
    assert len(puts) == 1 and len(puts[0].body["links"]) == links, why
    assert all(carried(g) is None for g in fake.requests("GET")), why


@dataclass
class UpgradingController(FakeController):
    """Serves, once `upgraded`, a desired-state format this agent does not know."""

    upgraded: bool = False

    def body(self, desired: DesiredState) -> bytes:
        if not self.upgraded:
            return super().body(desired)
        document = json.loads(serialize(desired))
        document["format"] = FORMAT + 1
        document["state"]["anycast_vteps"] = ["10.255.9.9"]
        return json.dumps(document).encode()


def test_a_newer_state_format_is_refused_reported_and_forwarding_kept() -> None:
    fake = UpgradingController(desired=make_state(1))
    stop = threading.Event()
    t = FakeTime(stop, limit=8)
    rec = FakeReconciler()

    def upgrade() -> None:
        fake.upgraded = True
        fake.desired = make_state(2, vni=10400)

    t.hooks[2] = upgrade
    with serve(fake) as url:
        drive([url], t, rec, rng=MaxRng())
    # Revision 1 was applied; nothing of the unreadable revision 2 reaches the kernel.
    assert [c.bridges[0].vni for c in rec.calls] == [10300]
    reports = [p.body for p in fake.requests("PUT")]
    assert reports[0]["applied_revision"] == 1 and reports[0]["errors"] == []
    refused = reports[1:]
    assert refused and all(
        r["applied_revision"] == 1
        and f"format {FORMAT + 1}" in r["errors"][0]
        and "upgrade the agent" in r["errors"][0]
        for r in refused
    )
    # It does not ask harder than for any failure: the delays back off.
    assert t.delays[2:5] == [0.5, 1.0, 2.0]


def test_new_revision_is_applied_and_resync_repairs_from_cache() -> None:
    fake = FakeController(desired=make_state(1))
    stop = threading.Event()
    t = FakeTime(stop, limit=40)
    rec = FakeReconciler()

    def bump() -> None:
        fake.desired = make_state(2, vni=10400)

    t.hooks[3] = bump
    with serve(fake) as url:
        drive([url], t, rec, rng=random.Random(2))
    assert [c.bridges[0].vni for c in rec.calls[:2]] == [10300, 10400]
    # ~78 s of fake time with resync 30 s: the cached state is reconciled again without a full GET.
    assert len(rec.calls) >= 4 and all(c.bridges[0].vni == 10400 for c in rec.calls[1:])
    full = [g for g in fake.requests("GET") if "if-none-match" not in g.headers]
    assert len(full) == 1
    puts = fake.requests("PUT")
    assert [p.body["applied_revision"] for p in puts][:2] == [1, 2]


def test_changes_are_applied_scoped_and_never_put_the_full_drift_repair_off() -> None:
    """A new state is applied scoped (`full=False`); the periodic resync is full, and a stream of changes
    (one every poll here) does not push it back: drift is still repaired every `resync` seconds."""

    class Scoped(FakeReconciler):
        def __init__(self) -> None:
            super().__init__()
            self.runs: list[tuple[bool, float]] = []

        def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result:
            self.calls.append(desired)
            self.runs.append((full, t.now))
            return Result(switch=desired.switch, netns="x", scope="full" if full else "fdb")

    fake = FakeController(desired=make_state(1))
    stop = threading.Event()
    t = FakeTime(stop, limit=60)
    rec = Scoped()

    def change(n: int) -> Any:
        def bump() -> None:
            fake.desired = make_state(n, vni=10300 + n)

        return bump

    for i in range(3, 60):
        t.hooks[i] = change(i)
    with serve(fake) as url:
        drive([url], t, rec, rng=random.Random(5))
    scoped = [at for full, at in rec.runs if not full]
    fulls = [at for full, at in rec.runs if full]
    assert len(scoped) >= 20  # every change, scoped
    span = rec.runs[-1][1] - rec.runs[0][1]
    assert span >= 90 and len(fulls) >= 3, rec.runs  # the resyncs (30 s) kept their pace under the changes
    assert all(b - a <= 30.0 + 2.0 for a, b in itertools.pairwise(fulls)), fulls


def test_backoff_grows_with_full_jitter_and_honours_retry_after() -> None:
    fake = FakeController(desired=make_state(3), failures=[
        (503, {}), (503, {}), (500, {}), (503, {}), (429, {"Retry-After": "7"}), (503, {}),
    ])  # fmt: skip
    stop = threading.Event()
    t = FakeTime(stop, limit=9)
    with serve(fake) as url:
        drive([url], t, FakeReconciler(), rng=MaxRng(), backoff_base=0.5, backoff_cap=30.0)
    # MaxRng: each delay is the top of its window: 0.5, 1, 2, 4, then Retry-After 7 + 8, then 16.
    assert t.delays[0] == 2.0  # initial spread
    assert t.delays[1:7] == [0.5, 1.0, 2.0, 4.0, 7.0 + 8.0, 16.0]
    assert t.delays[7:] == [2.0, 2.0]  # success resets the backoff
    assert len(fake.requests("PUT")) == 1


def test_status_errors_are_capped_and_a_rejected_report_is_not_resent() -> None:
    class Broken(FakeReconciler):
        def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result:
            self.calls.append(desired)
            return Result(switch=desired.switch, netns="x", errors=[f"fdb {i}: bad" for i in range(500)])

    fake = FakeController(desired=make_state(6))
    stop = threading.Event()
    t = FakeTime(stop, limit=3)
    with serve(fake) as url:
        drive([url], t, Broken(), rng=MaxRng())
    body = fake.requests("PUT")[0].body
    assert len(body["errors"]) == 101 and body["errors"][-1].startswith("... and 400 more")

    # A report the controller refuses (422) is dropped, not re-sent with every poll, and no backoff.
    fake = FakeController(desired=make_state(6), put_failures=[(422, {})])
    stop = threading.Event()
    t = FakeTime(stop, limit=4)
    with serve(fake) as url:
        drive([url], t, FakeReconciler(), rng=MaxRng())
    assert [r.method for r in fake.requests()] == ["GET", "PUT", "GET", "GET"]
    assert t.delays == [2.0, 2.0, 2.0, 2.0]


def test_failed_reconcile_is_retried_locally_not_refetched() -> None:
    at: list[float] = []

    class Flaky(FakeReconciler):
        def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result:
            self.calls.append(desired)
            at.append(t.now)
            errors = ["port swp1: no such device"] if len(self.calls) <= 3 else []
            return Result(switch=desired.switch, netns="x", errors=errors)

    fake = FakeController(desired=make_state(8))
    stop = threading.Event()
    rec = Flaky()
    t = FakeTime(stop, limit=500, until=lambda: len(rec.calls) >= 5)
    with serve(fake) as url:
        drive([url], t, rec, rng=MaxRng())
    gets = fake.requests("GET")
    assert sum("if-none-match" not in g.headers for g in gets) == 1  # the state was fetched once
    # Retries after the repair backoff (from `interval` = 2 s, doubling), then the normal `resync` (30 s).
    gaps = [b - a for a, b in itertools.pairwise(at)]
    assert gaps == pytest.approx([2.0, 4.0, 8.0, 30.0])
    puts = fake.requests("PUT")
    assert [len(p.body["errors"]) for p in puts][:4] == [1, 1, 1, 0]


def test_backoff_is_jittered_capped_and_resettable() -> None:
    b = Backoff(base=0.5, cap=30.0, rng=random.Random(42))
    delays = [b.next() for _ in range(12)]
    for n, d in enumerate(delays):
        assert 0.0 <= d <= min(30.0, 0.5 * 2**n)
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    assert max(delays[8:]) <= 30.0
    assert b.next(retry_after=10.0) >= 10.0
    b.reset()
    assert b.next() <= 0.5


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("99999") == 300.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_rotates_to_the_second_controller() -> None:
    fake = FakeController(desired=make_state(4))
    stop = threading.Event()
    t = FakeTime(stop, limit=4)
    rec = FakeReconciler()
    client_holder: list[Client] = []
    with serve(fake) as url:
        dead = dead_url()
        client = Client([dead, url], retries=0, timeout=2.0)
        client_holder.append(client)
        try:
            drive([dead, url], t, rec, rng=MaxRng(), client=client)
        finally:
            client.close()
    assert client_holder[0].url == url  # stayed on the one that works
    assert len(rec.calls) == 1 and len(fake.requests("PUT")) == 1
    assert t.delays[1] == 0.5  # one failure (connection refused) -> one backoff step


DATABASE_DOWN = json.dumps({"error": {
    "message": "the database is unreachable: connection refused; the controller reconnects by itself, try again later",
    "object": None, "field": None, "database": "unreachable",
}}).encode()  # fmt: skip


def test_a_controller_without_its_database_is_unavailable_and_the_agent_keeps_its_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a controller answers when it needs its database and cannot have it (api/errors.py): a 503 the
    client types as Unavailable, and the agent treats like an unreachable controller."""
    fake = FakeController(desired=make_state(6), failure_body=DATABASE_DOWN)
    down = (503, {"Retry-After": "2", "Content-Type": "application/json"})
    with serve(fake) as url:
        fake.failures.append(down)
        with Client(url, retries=0) as client, pytest.raises(Unavailable) as caught:
            client.desired_state(SWITCH)
        assert caught.value.retryable and caught.value.status == 503 and caught.value.retry_after == 2.0
        assert caught.value.message.startswith("the database is unreachable: connection refused")

        stop = threading.Event()
        t = FakeTime(stop, limit=8)
        t.hooks[2] = lambda: fake.failures.extend([down] * 3)  # once the state is applied and reported
        rec = FakeReconciler()
        caplog.set_level(logging.WARNING, logger="podswitch.agent")
        drive([url], t, rec, rng=MaxRng())
    assert len(rec.calls) == 1  # applied once; the outage neither re-applies nor tears anything down
    assert t.delays[2:5] == [2.0 + 0.5, 2.0 + 1.0, 2.0 + 2.0]  # Retry-After as a floor under the backoff
    assert t.delays[5:] == [2.0] * 3  # and back to polling once it answers
    warned = [r.getMessage() for r in caplog.records if "controller failed" in r.getMessage()]
    assert len(warned) == 3 and all("HTTP 503: the database is unreachable" in w for w in warned)


def test_many_agents_after_an_outage_ask_with_their_etag() -> None:
    """After a controller outage, agents come back with If-None-Match: 304s, not a full resync storm."""
    fake = FakeController(desired=make_state(5))
    stop = threading.Event()
    t = FakeTime(stop, limit=12)

    def outage() -> None:
        fake.failures.extend([(503, {})] * 4)

    t.hooks[2] = outage
    with serve(fake) as url:
        drive([url], t, FakeReconciler(), rng=random.Random(3))
    gets = fake.requests("GET")
    assert sum("if-none-match" not in g.headers for g in gets) == 1
    assert len(gets) == 11


# ---- the agent against a real kernel, and the controller dies --------------------------------------


def _sh(ns: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, check=True).stdout


def kernel_snapshot(ns: str) -> dict[str, str]:
    """What the agent programs, minus what the kernel changes by itself: operational states settle (a
    bridge goes UNKNOWN -> UP) and IPv6 link-local addresses come and go through DAD."""
    return {
        "links": re.sub(r" state \w+", "", _sh(ns, "ip", "-o", "link", "show")),
        "addrs": _sh(ns, "ip", "-4", "-o", "addr", "show"),
        "routes": _sh(ns, "ip", "route", "show"),
        "fdb": _sh(ns, "bridge", "fdb", "show", "dev", "vx10300"),
    }


def uplinked_switch(ns: str) -> SwitchState:
    """Cable an uplink (a veth, its peer up) into the switch namespace `ns`; the state of one segment on it."""
    from pyroute2 import IPRoute

    with IPRoute(netns=ns, flags=0) as ipr:
        ipr.link("add", ifname="up1", kind="veth", peer="up1p")
        ipr.link("set", index=ipr.link_lookup(ifname="up1p")[0], state="up")
    return SwitchState(
        switch=SWITCH, role="leaf", loopback="10.255.0.1",
        fabric_ports=(FabricPort(ifname="up1", address="10.254.0.1/31", peer="10.254.0.0"),),
        bridges=(SegmentBridge(vni=10300, tenant="t", segment="s", bridge="br10300", vxlan="vx10300",
                               flood=("10.255.0.1", "10.255.0.2")),),
    )  # fmt: skip


@pytest.mark.netns
def test_controller_death_leaves_the_kernel_alone(netns_prefix: str, counting_opener: Any) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds a network namespace")
    from pyroute2 import netns

    ns = f"{netns_prefix}cl"
    netns.create(ns)
    try:
        st = uplinked_switch(ns)
        fake = FakeController(desired=DesiredState(revision=9, etag="e9", state=st))
        stop = threading.Event()
        resyncs_after_death: list[Result] = []
        t = FakeTime(stop, limit=200, until=lambda: len(resyncs_after_death) >= 3)
        server_cm = serve(fake)
        url = server_cm.__enter__()
        killed: list[bool] = []

        def kill() -> None:
            server_cm.__exit__(None, None, None)  # controller dies: connection refused from now on
            killed.append(True)
            counting_opener.log.clear()

        t.hooks[3] = kill
        before: dict[str, str] = {}

        def remember() -> None:
            before.update(kernel_snapshot(ns))

        t.hooks[2] = remember

        class Watched(Reconciler):
            def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result:
                res = super().reconcile(desired)
                if killed:
                    resyncs_after_death.append(res)
                return res

        with Watched(ns, opener=counting_opener) as rec:
            drive([url], t, rec, rng=random.Random(4))
        assert killed
        after = kernel_snapshot(ns)
        assert before["fdb"] and "dst 10.255.0.2 self permanent" in before["fdb"]
        # Identical kernel, and not one write while the controller was gone, although the loop kept going
        # (failures backed off, local resyncs ran against the cached state).
        assert after == before
        assert counting_opener.log.entries == []
        assert [(r.writes, r.errors) for r in resyncs_after_death] == [(0, [])] * 3
        failures = t.delays[3:]
        assert len(failures) > 5 and max(failures) <= 30.0 + 1e-9  # backed off, capped, never a tight loop
        assert min(failures) > 0
    finally:
        netns.remove(ns)


@pytest.mark.netns
def test_agent_process_restart_is_hitless(netns_prefix: str) -> None:
    """The real entry point: SIGTERM leaves the kernel as programmed; the next agent process reconciles
    with zero writes."""
    if os.geteuid() != 0:
        pytest.skip("needs root: builds a network namespace")
    import signal
    import sys
    import time

    from pyroute2 import netns

    ns = f"{netns_prefix}rs"
    netns.create(ns)
    try:
        st = uplinked_switch(ns)
        fake = FakeController(desired=DesiredState(revision=11, etag="e11", state=st))

        def agent_run(url: str, nth_put: int) -> dict[str, Any]:
            proc = subprocess.Popen(
                [sys.executable, "-m", "podswitch.agent.main", "--switch", SWITCH, "--netns", ns,
                 "--controller", url, "--interval", "0.1", "--log-level", "WARNING"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            try:
                for _ in range(600):  # wait for its status report (a bound on tries, not a timing assertion)
                    if len(fake.requests("PUT")) >= nth_put or proc.poll() is not None:
                        break
                    time.sleep(0.05)
                assert len(fake.requests("PUT")) >= nth_put, "agent never reported"
            finally:
                proc.send_signal(signal.SIGTERM if nth_put == 1 else signal.SIGINT)
                out, _ = proc.communicate(timeout=30)
            assert proc.returncode == 0, out
            return fake.requests("PUT")[nth_put - 1].body  # type: ignore[no-any-return]

        with serve(fake) as url:
            first = agent_run(url, 1)
            assert first["errors"] == [] and first["writes"] > 0 and first["applied_revision"] == 11
            programmed = kernel_snapshot(ns)
            second = agent_run(url, 2)
        assert second["errors"] == [] and second["writes"] == 0
        assert kernel_snapshot(ns) == programmed
    finally:
        netns.remove(ns)


def test_the_format_message_says_which_side_to_upgrade() -> None:
    from podswitch.client.http import _other_format

    assert "upgrade the agent" in str(_other_format("u", FORMAT + 1))
    assert "upgrade the controller" in str(_other_format("u", min(READS) - 1))
