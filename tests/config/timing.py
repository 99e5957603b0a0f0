"""Timing of render/parse/plan on the benchmark-sized intent (1,000 tenants, 100,000 endpoints).

Not a test (tests never assert on time). Run: .venv/bin/python tests/config/timing.py [TENANTS]"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from podswitch.config import parse, plan, render
from podswitch.model import Endpoint, Key, Kind, put, validate
from tests.strategies import large_intent


def timed(label: str, fn, *args, **kwargs):
    # CPU time as well as wall time: on a shared machine the wall clock also measures the neighbours.
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    print(f"{label:<34} {time.perf_counter() - start:7.3f} s wall {time.process_time() - cpu:7.3f} s cpu", flush=True)
    return result


def main() -> None:
    tenants = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    intent = timed(f"generate ({tenants} tenants)", large_intent, tenants)
    print("  ", intent.count())
    text = timed("render", render, intent)
    print(f"   {text.count(chr(10))} lines, {len(text) / 1e6:.1f} MB")
    timed("render (again)", render, intent)
    parsed = timed("parse(validate=False)", parse, text, validate=False)
    assert render(parsed) == text
    if "--validate" in sys.argv:
        timed("model.validate", validate, parsed)
        timed("parse(validate=True)", parse, text)
    key = Key(Kind.ENDPOINT, "tenant0000.openstack", "net_00", "new-endpoint")
    changed = put(intent, key, Endpoint(id="new-endpoint", ips=("10.0.0.200",)))
    p = timed("plan (one endpoint added)", plan, intent, changed)
    print("  ", p.summary())
    timed("plan (parsed vs generated, equal)", plan, intent, parsed)


if __name__ == "__main__":
    main()
