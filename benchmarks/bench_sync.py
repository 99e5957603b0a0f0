"""One endpoint created through the REST API until its leaf's new desired state is served, at 100,000
endpoints on 64 leaves, end to end over loopback HTTP against a real `podswitch serve` process (SQLite).

Each round: one client long-polls the leaf's desired state with the ETag it holds (`?wait=`), another POSTs
one new endpoint on that leaf; the figure is the time from the POST's send until the long-poll's answer is
fully received. Baselines from the same run: the POST alone, and a plain GET of the (unchanged) document.
The breakdown comes from the server: `Server-Timing` of the POST (its whole handling: validate, diff, store)
and the controller's metrics (store commit, compile), and from the client's clock (the long-poll's answer
head and body)."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.common import Result, emit, large_text

ROUNDS = int(os.environ.get("PODSWITCH_BENCH_SYNC_ROUNDS", "30"))
TOKEN = "bench"
LEAF = "leaf01"
# tenant0500 net_05 is network 5005: interface-group osvdev0005 on leaf01/leaf02, VLAN 105 (tests.strategies)
TENANT, SEGMENT, GROUP, VLAN, PREFIX = "tenant0500.openstack", "net_05", "osvdev0005", 105, "10.19.141"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The command that runs the controller, before its `serve` arguments (a profiling wrapper may stand in).
SERVE = os.environ.get("PODSWITCH_BENCH_SERVE", "-m podswitch").split()


def _server(tmp: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    env = {**os.environ, "PODSWITCH_ADMIN_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, *SERVE, "serve", "--data-dir", str(tmp), "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return base, proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the controller did not start")
        time.sleep(0.1)


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^podswitch_{name}_seconds_sum (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def _server_timing(response: httpx.Response, what: str = "app") -> float:
    found = re.search(rf"{what};dur=([0-9.]+)", response.headers.get("server-timing", ""))
    return float(found.group(1)) if found else float("nan")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _body(n: int) -> dict[str, object]:
    return {
        "id": f"bench-sync-{n:04d}-4b88-a877-ca79d3e882bc",
        "attachment_point": {"interface_group": GROUP, "vlan": VLAN},
        "ips": [f"{PREFIX}.{20 + n}"],
        "mac": f"fa:16:3e:ee:{n >> 8 & 255:02x}:{n & 255:02x}",
    }


def main() -> None:
    text = large_text()
    with tempfile.TemporaryDirectory(prefix="podswitch-bench-") as tmp:
        base, proc = _server(Path(tmp))
        try:
            run(base, text)
        finally:
            proc.terminate()
            proc.wait(30)


def run(base: str, text: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    admin = httpx.Client(base_url=base, headers=auth, timeout=600)
    poller = httpx.Client(base_url=base, timeout=120)
    r = admin.put("/v1/running-config", content=text.encode(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text[:500]
    url = f"/v1/switches/{LEAF}/desired-state"
    r = poller.get(url)  # the first compile (a whole fabric) is not what this measures
    assert r.status_code == 200
    etag = r.headers["etag"]
    size = len(r.content)

    pool = ThreadPoolExecutor(1)
    totals: list[float] = []
    posts: list[float] = []
    post_app: list[float] = []
    to_head: list[float] = []
    body_s: list[float] = []
    commits: list[float] = []
    compiles: list[float] = []
    lp_app_after: list[float] = []
    metrics = admin.get("/metrics").text

    def long_poll(etag: str) -> tuple[httpx.Response, bytes, float, float]:
        with poller.stream("GET", url, params={"wait": 60}, headers={"If-None-Match": etag}) as resp:
            head = time.perf_counter()
            body = resp.read()
            return resp, body, head, time.perf_counter()

    for n in range(ROUNDS):
        waiting = pool.submit(long_poll, etag)
        time.sleep(0.3)  # the long-poll is parked at the controller
        assert not waiting.done()
        sent = time.perf_counter()
        r = admin.post(f"/v1/tenants/{TENANT}/segments/{SEGMENT}/endpoints", json=_body(n))
        posted = time.perf_counter()
        assert r.status_code == 201, r.text
        resp, _, head, done = waiting.result(120)
        assert resp.status_code == 200 and resp.headers["etag"] != etag, resp.status_code
        etag = resp.headers["etag"]
        totals.append(done - sent)
        posts.append(posted - sent)
        post_app.append(_server_timing(r) / 1000)
        to_head.append(head - sent)
        body_s.append(done - head)
        before, metrics = metrics, admin.get("/metrics").text
        commits.append(_metric(metrics, "commit") - _metric(before, "commit"))
        compiles.append(_metric(metrics, "compile") - _metric(before, "compile"))
        lp_app_after.append(head - posted)
    pool.shutdown()

    gets: list[float] = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        r = poller.get(url)
        gets.append(time.perf_counter() - started)
        assert r.status_code == 200 and len(r.content) > 0

    ms = 1000
    p50, p99 = pct(totals, 50) * ms, pct(totals, 99) * ms
    emit(
        Result(
            f"sync: POST endpoint -> new {size / 1e6:.1f} MB leaf document received, p50 ({ROUNDS} rounds)",
            p50,
            "ms",
            "<= 50 ms",
            "POST alone p50",
            pct(posts, 50) * ms,
            p50 <= 50,
        )
    )
    emit(Result("  p99 of that", p99, "ms", "", "POST alone p99", pct(posts, 99) * ms))
    emit(Result("  plain GET of the unchanged document, p50", pct(gets, 50) * ms, "ms"))
    for name, values in (
        ("POST, server side (Server-Timing)", post_app),
        ("  of which the store commit", commits),
        ("compile of the new revision", compiles),
        ("long-poll answer head after the POST returned", lp_app_after),
        ("long-poll answer head after the POST was sent", to_head),
        ("long-poll body (head to last byte)", body_s),
    ):
        emit(Result(f"  {name}, p50", statistics.median(values) * ms, "ms"))


if __name__ == "__main__":
    main()
