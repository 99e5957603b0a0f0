"""What every benchmark shares: timing, peak memory, a result line, and the large intent."""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

RESULT_PREFIX = "BENCH "
SCALE = {"tenants": 1000, "segments": 10000, "endpoints": 100000, "leaves": 64}


@dataclass
class Result:
    name: str
    value: float
    unit: str
    target: str = ""
    baseline_name: str = ""
    baseline: float | None = None
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def emit(result: Result) -> None:
    """One machine-readable line per figure (benchmarks/__main__ gathers them into the table)."""
    print(RESULT_PREFIX + json.dumps(asdict(result)), flush=True)


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best of `repeat` runs, garbage collection settled first."""
    best = float("inf")
    value = None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (VmHWM)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Resident memory of this process now (VmRSS)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss() -> None:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


@contextmanager
def quiet_logs() -> Iterator[None]:
    import logging

    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def large_text() -> str:
    """Running-config of the sized-for intent (1,000 tenants / 10,000 segments / 100,000 endpoints),
    cached on disk so that every benchmark process parses the same text without regenerating it."""
    from pathlib import Path

    path = Path(os.environ.get("PODSWITCH_BENCH_DIR", "var/bench")) / "large-running-config.txt"
    if not path.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.strategies import large_intent

        from podswitch.config import render

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(large_intent()))
    return path.read_text()
