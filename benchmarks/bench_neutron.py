"""Neutron with podswitch: what the driver costs a Neutron API call, and how fast the journal catches up.

Two real Neutron deployments side by side in the same run (integrations/neutron/tests/e2e/deployment.py:
MariaDB with the real migrations, the API under waitress, neutron-rpc-server and neutron-periodic-workers,
a stand-in OVS agent on osvdev0013 reporting over RPC as the real agent does so ML2's `openvswitch` driver
binds the ports): one with `mechanism_drivers = openvswitch,podswitch` and the podswitch L3 plugin, talking
to a real `podswitch serve` (SQLite), and the baseline with `openvswitch` alone and the stock L3 plugin.

1. Port create, the controller up: PODSWITCH_NEUTRON_BENCH_PORTS (200) ports bound to osvdev0013 through
   openstacksdk, one call at a time, alternating between the two deployments call by call (the machine's
   load weighs on both alike). p50 and p99 of each, the baseline's beside; target <= 1.1x.
2. Backlog drain: the controller stopped, ports bound to osvdev0013 made through Neutron's native bulk
   create (`POST /v2.0/ports` with a list of PODSWITCH_NEUTRON_BENCH_BULK (100) ports, from
   PODSWITCH_NEUTRON_BENCH_WRITERS (2) clients at once): the real API and the real driver, each port two
   journal rows (ML2 records the creates in one transaction, then binds each port: its binding update),
   until PODSWITCH_NEUTRON_BENCH_OPS (10,000) rows or PODSWITCH_NEUTRON_BENCH_CAP seconds (300); then the
   controller started. Figure: journal rows completed per second from the controller's start until no row
   is pending (the sender's backoff, at most `retry_max` = 1 s here, included), named with the rows, the
   ports and the API calls that made the backlog. The drain is cut off after CAP seconds too (the name
   then says so).

   Making the backlog is Neutron's own work and bounds this part: bulk creates are no cheaper per port than
   single ones, because ML2 binds each port in a transaction of its own and pushes each port to the agents
   (profiled with py-spy: binding ~40% of the API's time, OVO push ~20%, IPAM ~10%, the podswitch driver
   ~3%). On this 2-core machine that is about 2 bound ports (4 rows) a second, so the default CAP gives a
   backlog of ~1,000-1,300 rows and the Neutron section of `make bench` takes ~12 minutes; 10,000 rows take
   Neutron ~40 minutes here (PODSWITCH_NEUTRON_BENCH_CAP=3000).

Runs in the neutron venv (`make neutron-venv`): started from another interpreter, it re-executes itself
there."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEUTRON_PY = REPO / ".venv-neutron" / "bin" / "python"
E2E = REPO / "integrations" / "neutron" / "tests"

PORTS = int(os.environ.get("PODSWITCH_NEUTRON_BENCH_PORTS") or 200)
OPS = int(os.environ.get("PODSWITCH_NEUTRON_BENCH_OPS") or 10_000)
CAP = float(os.environ.get("PODSWITCH_NEUTRON_BENCH_CAP") or 300)
BULK = int(os.environ.get("PODSWITCH_NEUTRON_BENCH_BULK") or 100)  # ports per bulk create call
PORTS_BACKLOG = OPS // 2  # each bound port is two journal rows: its create and its binding
WRITERS = int(os.environ.get("PODSWITCH_NEUTRON_BENCH_WRITERS") or 2)  # bulk calls in flight at once
TOKEN = "bench-neutron-admin-token"


def in_neutron_venv() -> None:
    """Re-execute under the neutron venv's interpreter unless this one has neutron."""
    try:
        import neutron  # noqa: F401
    except ImportError:
        if not NEUTRON_PY.exists():
            sys.exit(f"bench_neutron: {NEUTRON_PY} is missing: run `make neutron-venv`")
        path = os.pathsep.join([str(REPO / "src"), str(REPO), str(E2E.parent), str(E2E)])
        os.execve(
            str(NEUTRON_PY), [str(NEUTRON_PY), "-m", "benchmarks.bench_neutron"], {**os.environ, "PYTHONPATH": path}
        )
    if str(E2E) not in sys.path:
        sys.path.insert(0, str(E2E))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * q) - 1))]


def bulk_backlog(url: str, headers: dict[str, str], network_id: str, project: str, started: float) -> tuple[int, int]:
    """PORTS_BACKLOG ports bound to osvdev0013, made by Neutron's native bulk create (`POST /v2.0/ports` with
    a list of BULK ports; ML2 records each port's create in one transaction, then binds each port, which
    records its binding update), from WRITERS clients at once, until done or CAP seconds after `started`.
    (ports made, API calls)"""
    import httpx
    from e2e.cloud import COMPUTE_HOST

    lock = threading.Lock()
    made = calls = claimed = 0

    def writer() -> None:
        nonlocal made, calls, claimed
        with httpx.Client(base_url=url, headers=headers, timeout=CAP) as http:
            while time.monotonic() - started < CAP:
                with lock:
                    first, count = claimed, min(BULK, PORTS_BACKLOG - claimed)
                    claimed += count
                if count <= 0:
                    return
                ports = [
                    {
                        "network_id": network_id,
                        "project_id": project,
                        "name": f"backlog{first + i}",
                        "binding:host_id": COMPUTE_HOST,
                        "device_owner": "compute:nova",
                        "device_id": str(uuid.uuid4()),
                    }
                    for i in range(count)
                ]
                answer = http.post("/v2.0/ports", json={"ports": ports})
                answer.raise_for_status()
                with lock:
                    made += len(answer.json()["ports"])
                    calls += 1

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return made, calls


def main() -> None:
    in_neutron_venv()
    from e2e import journal
    from e2e.cloud import COMPUTE_HOST, provider_network, vm_port
    from e2e.deployment import Podswitch, deploy, identity, teardown
    from e2e.services import MessageBus

    from benchmarks.common import Result, emit
    from podswitch.lab.process import ControllerProcess

    project = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="podswitch-bench-neutron-") as tmp:
        work = Path(tmp)
        bus = MessageBus.create()
        controller = ControllerProcess(work / "controller", TOKEN).start()
        # Journal defaults, but for the consistency check (this measures the journal alone) and a retry
        # at most a second apart once the controller is back (the drain's clock starts at its start).
        podswitch = Podswitch([controller.url], TOKEN, {"consistency_interval": "0", "retry_max": "1"})
        deployed = []
        try:
            ours = deploy("podswitch", work / "podswitch", bus, podswitch, (COMPUTE_HOST,))
            deployed.append(ours)
            theirs = deploy("baseline", work / "baseline", bus, None, (COMPUTE_HOST,))
            deployed.append(theirs)
            sides = {"podswitch": ours.connection(project, "bench"), "baseline": theirs.connection(project, "bench")}
            nets = {}
            for name, conn in sides.items():
                nets[name] = provider_network(conn, project, "net_bench", 330, "10.80.0.0/16")[0].id

            def create(name: str, n: int) -> float:
                started = time.perf_counter()
                vm_port(sides[name], project, nets[name], f"vm{n}")
                return time.perf_counter() - started

            for n in range(5):  # warm both up (connections, caches, the first binding)
                create("podswitch", -n - 1)
                create("baseline", -n - 1)
            times: dict[str, list[float]] = {"podswitch": [], "baseline": []}
            for n in range(PORTS):
                order = ("podswitch", "baseline") if n % 2 == 0 else ("baseline", "podswitch")
                for name in order:
                    times[name].append(create(name, n))
            for q, label in ((0.5, "p50"), (0.99, "p99")):
                a, b = percentile(times["podswitch"], q), percentile(times["baseline"], q)
                emit(
                    Result(
                        f"neutron port create, controller up: {label}",
                        a * 1000,
                        "ms",
                        "<= 1.1x without podswitch",
                        "openvswitch driver alone",
                        b * 1000,
                        a / b <= 1.1,
                    )
                )
            log(
                f"port create p50 {statistics.median(times['podswitch']) * 1000:.1f} ms with podswitch, "
                f"{statistics.median(times['baseline']) * 1000:.1f} ms without"
            )

            # 2. the backlog of an outage
            seq = journal.last_seq(ours)
            controller.stop()
            started = time.monotonic()
            made, calls = bulk_backlog(ours.url, identity(project, "bench"), nets["podswitch"], project, started)
            outage = time.monotonic() - started
            backlog = journal.states(ours, seq)["pending"]
            log(f"outage: {made} bound ports in {calls} bulk creates in {outage:.0f} s, {backlog} journal rows")
            controller.start()
            started = time.monotonic()
            while journal.states(ours, seq)["pending"] and time.monotonic() - started < CAP:
                time.sleep(0.1)
            seconds = time.monotonic() - started
            counted = journal.states(ours, seq)
            drained = counted["pending"] == 0
            rows = counted["completed"]
            log(f"drain: {dict(counted)} after {seconds:.1f} s" + ("" if drained else f" (cut off at {CAP:.0f} s)"))
            name = (
                f"neutron journal drain: rows/s after an outage of {backlog} journal rows from {made} bound port "
                f"creates ({calls} bulk API calls)" + ("" if drained else " (cut off)")
            )
            emit(Result(name, rows / seconds, "rows/s"))
            emit(Result("  journal rows of the outage", backlog, "", f"{OPS}", ok=backlog >= OPS))
            emit(Result("  seconds Neutron took to record them", outage, "s"))
            emit(Result("  rows sent", rows, ""))
            emit(Result("  rows failed", counted["failed"], "", "0", ok=counted["failed"] == 0))
        finally:
            for neutron in deployed:
                teardown(neutron)
            controller.stop()
            bus.drop()


if __name__ == "__main__":
    main()
