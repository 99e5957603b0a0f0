"""One endpoint created through the REST API until its leaf's new desired state is served, at 100,000
endpoints on 64 leaves, end to end over loopback HTTP against a real `podswitch serve` process (SQLite).

Each round: one client long-polls the leaf's desired state with the ETag it holds (`?wait=`), another POSTs
one new endpoint on that leaf; the figure is the time from the POST's send until the long-poll's answer is
fully received. Baselines from the same run: the POST alone, and a plain GET of the (unchanged) document.
The breakdown comes from the server: `Server-Timing` of the POST (its whole handling: validate, diff, store)
and of the long-poll's answer (the compile it waited for), the controller's metrics (store commit, compile),
the client's clock (the answer's head and body), and the server process's CPU time per round, which a loaded
machine inflates much less than wall time."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.common import Result, emit, large_text
from podswitch.fabric.delta import DELTA_IM, apply_delta
from podswitch.fabric.formats import state_hash
from podswitch.fabric.state import DesiredState, SwitchState, parse_desired

ROUNDS = int(os.environ.get("PODSWITCH_BENCH_SYNC_ROUNDS", "30"))
TOKEN = "bench"
LEAF = "leaf01"
URL = f"/v1/switches/{LEAF}/desired-state"
# tenant0500 net_05 is network 5005: interface-group osvdev0005 on leaf01/leaf02, VLAN 105 (tests.strategies)
TENANT, SEGMENT, GROUP, VLAN, PREFIX = "tenant0500.openstack", "net_05", "osvdev0005", 105, "10.19.141"
# The command that runs the controller, before its `serve` arguments (a profiling wrapper may stand in).
SERVE = os.environ.get("PODSWITCH_BENCH_SERVE", "-m podswitch").split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`podswitch serve` of the tree on `pythonpath` (default: this process's), on a fresh SQLite store."""

    def __init__(self, tmp: Path, pythonpath: str | None = None) -> None:
        port = _free_port()
        env = {**os.environ, "PODSWITCH_ADMIN_TOKEN": TOKEN}
        if pythonpath is not None:
            env["PYTHONPATH"] = pythonpath
        self.proc = subprocess.Popen(
            [sys.executable, *SERVE, "serve", "--data-dir", str(tmp), "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the controller did not start")
            time.sleep(0.1)
        self.admin = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
        self.poller = httpx.Client(base_url=self.base, timeout=120)
        self.pool = ThreadPoolExecutor(1)
        self.etag = ""
        self.size = 0
        self.held = DesiredState(revision=0, etag="", state=SwitchState(switch=LEAF, role="leaf"))
        self.n = 0

    def cpu(self) -> float:
        """CPU seconds the server process's threads have run so far (threads that ended do not count: the
        server's pool threads live as long as it does)."""
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def load(self, text: str) -> None:
        r = self.admin.put("/v1/running-config", content=text.encode(), headers={"Content-Type": "text/plain"})
        assert r.status_code == 200, r.text[:500]
        r = self.poller.get(URL)  # the first compile (a whole fabric) is not what this measures
        assert r.status_code == 200
        self.etag, self.size = r.headers["etag"], len(r.content)
        self.held = parse_desired(r.content)

    def stop(self) -> None:
        self.pool.shutdown()
        self.proc.terminate()
        self.proc.wait(30)


@dataclass
class Rounds:
    total: list[float] = field(default_factory=list)  # POST sent -> new document received
    post: list[float] = field(default_factory=list)  # POST sent -> its answer received
    post_app: list[float] = field(default_factory=list)  # the POST at the server (Server-Timing)
    commit: list[float] = field(default_factory=list)  # the store commit (metrics)
    compile: list[float] = field(default_factory=list)  # compile of the new revision (metrics)
    lp_compile: list[float] = field(default_factory=list)  # the long-poll waited for the compile (Server-Timing)
    after_post: list[float] = field(default_factory=list)  # the answer's head after the POST's answer
    head: list[float] = field(default_factory=list)  # POST sent -> the answer's head
    body: list[float] = field(default_factory=list)  # the answer's head -> its last byte
    cpu: list[float] = field(default_factory=list)  # server CPU seconds of the round
    size: list[int] = field(default_factory=list)  # bytes of the answer
    agent: list[float] = field(default_factory=list)  # the agent's state from the answer: parse, or apply + verify


def _seconds(text: str, name: str) -> float:
    found = re.search(rf"^podswitch_{name}_seconds_sum (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def _server_timing(response: httpx.Response, what: str = "app") -> float:
    found = re.search(rf"{what};dur=([0-9.]+)", response.headers.get("server-timing", ""))
    return float(found.group(1)) / 1000 if found else float("nan")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _body(n: int) -> dict[str, object]:
    return {
        "id": f"bench-sync-{n:04d}-4b88-a877-ca79d3e882bc",
        "attachment_point": {"interface_group": GROUP, "vlan": VLAN},
        "ips": [f"{PREFIX}.{20 + n % 200}"],
        "mac": f"fa:16:3e:ee:{n >> 8 & 255:02x}:{n & 255:02x}",
    }


def measure(server: Server, rounds: int, out: Rounds | None = None, delta: bool = False) -> Rounds:
    """`rounds` rounds; with `delta` the long-poll asks for a delta (A-IM) and must get one (226)."""
    out = out if out is not None else Rounds()

    def long_poll(etag: str) -> tuple[httpx.Response, bytes, float, float]:
        headers = {"If-None-Match": etag, **({"A-IM": DELTA_IM} if delta else {})}
        with server.poller.stream("GET", URL, params={"wait": 60}, headers=headers) as resp:
            head = time.perf_counter()
            body = resp.read()
            return resp, body, head, time.perf_counter()

    metrics = server.admin.get("/metrics").text
    for _ in range(rounds):
        n, server.n = server.n, server.n + 1
        waiting = server.pool.submit(long_poll, server.etag)
        time.sleep(0.3)  # the long-poll is parked at the controller
        assert not waiting.done()
        cpu = server.cpu()
        sent = time.perf_counter()
        r = server.admin.post(f"/v1/tenants/{TENANT}/segments/{SEGMENT}/endpoints", json=_body(n))
        posted = time.perf_counter()
        assert r.status_code == 201, r.text
        resp, body, head, done = waiting.result(120)
        out.cpu.append(server.cpu() - cpu)
        assert resp.status_code == (226 if delta else 200) and resp.headers["etag"] != server.etag, resp.status_code
        server.etag = resp.headers["etag"]
        started = time.perf_counter()
        server.held = apply_delta(server.held, body) if delta else parse_desired(body)
        out.agent.append(time.perf_counter() - started)
        # From format 2 the HTTP ETag is the state's hash (the document's own `etag`) and a digest of the rest.
        assert state_hash(server.etag.strip('"')) == server.held.etag, (server.etag, server.held.etag)
        out.total.append(done - sent)
        out.post.append(posted - sent)
        out.post_app.append(_server_timing(r))
        out.head.append(head - sent)
        out.after_post.append(head - posted)
        out.body.append(done - head)
        out.lp_compile.append(_server_timing(resp, "compile"))
        out.size.append(len(body))
        before, metrics = metrics, server.admin.get("/metrics").text
        out.commit.append(_seconds(metrics, "commit") - _seconds(before, "commit"))
        out.compile.append(_seconds(metrics, "compile") - _seconds(before, "compile"))
    return out


def plain_gets(server: Server, rounds: int) -> list[float]:
    gets = []
    for _ in range(rounds):
        started = time.perf_counter()
        r = server.poller.get(URL)
        gets.append(time.perf_counter() - started)
        assert r.status_code == 200 and len(r.content) > 0
    return gets


def report(server: Server, full: Rounds, delta: Rounds, gets: list[float]) -> None:
    ms = 1000
    p50, p99 = pct(full.total, 50) * ms, pct(full.total, 99) * ms
    emit(
        Result(
            f"sync: POST endpoint -> new {server.size / 1e6:.1f} MB leaf document received, p50 "
            f"({len(full.total)} rounds)",
            p50,
            "ms",
            "<= 50 ms",
            "POST alone p50",
            pct(full.post, 50) * ms,
            p50 <= 50,
        )
    )
    emit(Result("  p99 of that", p99, "ms", "", "POST alone p99", pct(full.post, 99) * ms))
    d50 = pct(delta.total, 50) * ms
    emit(
        Result(
            f"sync as a delta (A-IM, 226; {statistics.median(delta.size) / 1e3:.1f} kB), p50 "
            f"({len(delta.total)} rounds)",
            d50,
            "ms",
            "<= 50 ms",
            "the full document, p50",
            p50,
            d50 <= 50,
        )
    )
    emit(Result("  p99 of that", pct(delta.total, 99) * ms, "ms", "", "the full document, p99", p99))
    emit(
        Result(
            "  the agent's state from the answer (apply + verify the ETag), p50",
            pct(delta.agent, 50) * ms,
            "ms",
            "",
            "parse the full document",
            pct(full.agent, 50) * ms,
        )
    )
    emit(Result("  server CPU per round, p50", pct(delta.cpu, 50) * ms, "ms", "", "full", pct(full.cpu, 50) * ms))
    emit(Result("  plain GET of the unchanged document, p50", pct(gets, 50) * ms, "ms"))
    for name, values, also in (
        ("POST, server side (Server-Timing)", full.post_app, delta.post_app),
        ("  of which the store commit", full.commit, delta.commit),
        ("compile of the new revision", full.compile, delta.compile),
        ("  as the long-poll waited for it (Server-Timing)", full.lp_compile, delta.lp_compile),
        ("long-poll answer head after the POST's answer", full.after_post, delta.after_post),
        ("long-poll answer head after the POST was sent", full.head, delta.head),
        ("long-poll body (head to last byte)", full.body, delta.body),
    ):
        full_ms, delta_ms = statistics.median(values) * ms, statistics.median(also) * ms
        emit(Result(f"  {name}, p50 (full)", full_ms, "ms", "", "delta", delta_ms))


def main() -> None:
    text = large_text()
    with tempfile.TemporaryDirectory(prefix="podswitch-bench-") as tmp:
        server = Server(Path(tmp))
        try:
            server.load(text)
            full, delta = Rounds(), Rounds()
            for _ in range(ROUNDS // 5):  # in turns, so that the machine's mood weighs on both alike
                measure(server, 5, full)
                measure(server, 5, delta, delta=True)
            gets = plain_gets(server, ROUNDS)
            report(server, full, delta, gets)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
