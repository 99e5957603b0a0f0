"""The previous release's own agent code against today's controller: its client fetches and accepts the
document served to it, revalidates it with a 304, and the format-1 bytes served are exactly what the previous
release's own compiler makes of the same intent (no network beyond 127.0.0.1, no root)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from podswitch.controller import Controller
from podswitch.fabric.state import FORMAT_HEADER, parse_desired
from podswitch.store import Store
from tests.api.test_push import serve
from tests.builders import FULL_CONFIG

from .conftest import run_previous

# Runs with the previous release's podswitch. Prints one JSON object: what that release saw, per switch.
PREVIOUS_AGENT = r"""
import hashlib, json, sys
import httpx
import podswitch
from podswitch.client import Client
from podswitch.config import parse
from podswitch.fabric import allocate, compile, merged
from podswitch.fabric.state import FORMAT, FORMAT_HEADER

url = sys.argv[1]
intent = parse(httpx.get(f"{url}/v1/running-config").text)
revision = int(httpx.get(f"{url}/healthz").json()["revision"])
# The controller allocated everything in one revision from nothing, as allocate() does here.
compiled = compile(intent, merged({}, allocate(intent, {})), revision)
seen = {"module": podswitch.__file__, "format": FORMAT, "switches": {}}
with Client(url, retries=0) as client:
    for switch in sorted(intent.topology.switches):
        fetched = client.desired_state(switch)  # this release's parse and format check
        again = client.desired_state(switch, fetched.etag)
        raw = httpx.get(f"{url}/v1/switches/{switch}/desired-state", headers={FORMAT_HEADER: str(FORMAT)})
        seen["switches"][switch] = {
            "format": fetched.desired.format,
            "etag": fetched.desired.etag,
            "validator": fetched.etag,
            "revalidated": again.status,
            "compiled_here": raw.content == compiled.document(switch),
            "bytes": len(raw.content),
        }
print(json.dumps(seen))
"""


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[tuple[str, Controller]]:
    """Today's controller under uvicorn on 127.0.0.1 with FULL_CONFIG (every kind of object) in one revision."""
    store = Store.open(Store.default_url(tmp_path))
    Controller(store).replace(FULL_CONFIG, actor="test")
    base, stop = serve(store)
    try:
        yield base, Controller(store)
    finally:
        stop()
        store.close()


def test_the_previous_release_reads_what_todays_controller_serves_it(
    previous_release: Path, controller: tuple[str, Controller]
) -> None:
    url, ctl = controller
    ran = run_previous(previous_release, PREVIOUS_AGENT, url)
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout)
    assert Path(seen["module"]).is_relative_to(previous_release), seen["module"]  # its code, not today's
    assert seen["format"] == 1
    switches = seen["switches"]
    assert set(switches) == set(ctl.snapshot().intent.topology.switches) and len(switches) >= 3
    compiled = ctl.compiled()
    for name, got in switches.items():
        assert got["format"] == 1 and got["revalidated"] == 304, (name, got)
        # Byte for byte what its own compiler makes of the intent: the downgrade is exact.
        assert got["compiled_here"], (name, got)
        # The state's hash, in the body and as the ETag, as format-1 controllers sent it; an agent in sync.
        assert got["etag"] == compiled.etag(name) and got["validator"] == f'"{got["etag"]}"', (name, got)
    # Today's agents get format 2 of the same state from the same controller.
    served = ctl.desired_state("leaf1")
    assert served is not None and parse_desired(served.json()).etag == switches["leaf1"]["etag"]
    assert FORMAT_HEADER == "X-Podswitch-State-Format"  # the header both releases send
