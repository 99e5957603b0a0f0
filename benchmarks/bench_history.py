"""History and catching up at the sized-for scale (100,000 endpoints), on SQLite, through the controller.

Beside the PUT of the whole running-config (the baseline, measured in the same run):
- restore with dry_run=true (a plan of undoing 100,000 objects) and the endpoint PUT sent while it runs
  (a dry run takes no lock: the PUT must not wait for it);
- restore for real (delete everything, then bring it back);
- catch-up: a second controller on the same store replays the other's 100k-object revision, while its
  /healthz keeps answering from the last snapshot;
- resident memory after each of ten PUT/restore cycles (it must stay flat)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from benchmarks.common import Result, emit, large_text, quiet_logs, rss_mib
from podswitch.api.app import create_app
from podswitch.store import Store

AUTH = {"Authorization": "Bearer bench"}
CYCLES = 10


def _put(client: TestClient, text: str) -> float:
    started = time.perf_counter()
    r = client.put("/v1/running-config", content=text.encode(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text[:300]
    return time.perf_counter() - started


def _post(client: TestClient, path: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    started = time.perf_counter()
    r = client.post(path)
    assert r.status_code == 200, r.text[:300]
    return time.perf_counter() - started, r.json()


def _health_while(client: TestClient, work: threading.Thread) -> list[float]:
    """Seconds each /healthz took, polled every 50 ms while `work` runs."""
    health: list[float] = []
    work.start()
    while work.is_alive():
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        health.append(time.perf_counter() - started)
        time.sleep(0.05)
    work.join()
    return health or [0.0]


def _endpoint_put_during(client: TestClient, work: threading.Thread) -> float:
    """Seconds an endpoint PUT takes while `work` runs (started just before)."""
    work.start()
    time.sleep(0.3)  # let the work get going
    body = {"ips": ["10.200.0.2"], "mac": "fa:16:3e:77:00:01"}
    started = time.perf_counter()
    r = client.put("/v1/tenants/bench.probe/segments/s/endpoints/probe", json=body)
    elapsed = time.perf_counter() - started
    assert r.status_code in (200, 201), r.text[:300]
    work.join()
    return elapsed


def main() -> None:
    text = large_text()
    with quiet_logs(), tempfile.TemporaryDirectory(prefix="podswitch-bench-") as tmp:
        url = Store.default_url(Path(tmp) / "store")
        store_a, store_b = Store.open(url), Store.open(url)
        a = TestClient(create_app(store_a, "bench"), headers=AUTH)
        b = TestClient(create_app(store_b, "bench"), headers=AUTH)  # loaded at revision 0
        assert a.put("/v1/tenants/bench.probe", json={}).status_code == 201
        assert a.put("/v1/tenants/bench.probe/segments/s", json={}).status_code == 201
        a.get("/v1/running-config")
        base = int(a.get("/healthz").json()["revision"])
        # The 100k PUT, with /healthz polled meanwhile: parsing and validating ~25 MB happens off the event loop.
        timing: dict[str, float] = {}
        putting = threading.Thread(
            target=lambda: timing.update(put=_put(a, text + "!\ntenant bench.probe\n  segment s\n"))
        )
        during_put = _health_while(a, putting)
        put_seconds = timing["put"]
        full = base + 1

        # Catch-up: b replays a's revision while /healthz on b answers from its last snapshot.
        ctl_b = b.app.state.controller
        catching = threading.Thread(target=lambda: ctl_b.refresh(wait=600))
        started = time.perf_counter()
        health = _health_while(b, catching)
        catch_up = time.perf_counter() - started
        assert ctl_b.snapshot().revision == full
        emit(Result("PUT running-config 100k endpoints (baseline of what follows)", put_seconds, "s"))
        worst = max(during_put) * 1000
        emit(Result(f"  /healthz meanwhile, worst of {len(during_put)}", worst, "ms", "< 1 s (20 MB body: 2.3 s)"))
        emit(
            Result(
                "catch-up of a second controller after that PUT",
                catch_up,
                "s",
                "~ the PUT",
                "the PUT",
                put_seconds,
            )
        )
        emit(
            Result(
                f"  /healthz on it meanwhile, worst of {len(health)}", max(health) * 1000, "ms", "< 1 s (was 32-183 s)"
            )
        )

        # Restore dry run (undo all 100k) and an endpoint PUT sent meanwhile.
        result: dict = {}  # type: ignore[type-arg]

        def dry() -> None:
            result["seconds"], result["plan"] = _post(a, f"/v1/history/{base}/restore?dry_run=true")

        during = _endpoint_put_during(a, threading.Thread(target=dry))
        emit(Result("restore --dry-run of 100k objects", result["seconds"], "s", "~ the PUT", "the PUT", put_seconds))
        emit(Result("  endpoint PUT sent meanwhile", during * 1000, "ms", "not behind the dry run"))

        # Restore for real: everything gone, then everything back.
        down, _ = _post(a, f"/v1/history/{base}/restore")
        up, _ = _post(a, f"/v1/history/{full}/restore")
        emit(Result("restore: 100k objects deleted", down, "s", "~ the PUT", "the PUT", put_seconds))
        emit(Result("restore: 100k objects back", up, "s", "~ the PUT", "the PUT", put_seconds))

        # Memory over repeated cycles.
        rss = []
        for _ in range(CYCLES):
            head = int(a.get("/healthz").json()["revision"])
            _post(a, f"/v1/history/{base}/restore")
            _put(a, text)
            _post(a, f"/v1/history/{head}/restore")
            rss.append(rss_mib())
        print("RSS after each PUT/restore cycle (MiB): " + ", ".join(f"{r:.0f}" for r in rss))
        growth = rss[-1] - rss[1]
        emit(Result(f"RSS after {CYCLES} PUT/restore cycles", rss[-1], "MiB", "flat", "after cycle 2", rss[1]))
        emit(Result("  growth from cycle 2 to 10", growth, "MiB", "<= 10% of cycle 2", ok=growth <= rss[1] * 0.1))
        store_a.close()
        store_b.close()


if __name__ == "__main__":
    main()
