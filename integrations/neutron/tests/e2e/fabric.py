"""What the end-to-end tests read from the podswitch side: the real CLI, a tenant's block of running-config,
and each endpoint's life as the controller's history recorded it (to tell "in order, nothing lost, nothing
doubled" from the outside)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx

from podswitch.client import Client, Missing, Unavailable
from podswitch.lab.process import ControllerProcess

from .processes import ChildFailed


def cli(controller: ControllerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `podswitch` CLI against the controller."""
    return subprocess.run(
        [sys.executable, "-m", "podswitch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **controller.env},
        check=False,
    )


def tenant_block(running_config: str, tenant: str) -> str | None:
    """The `tenant NAME` block of running-config text, without the `!` that closes it (None if absent)."""
    lines = running_config.splitlines()
    try:
        start = lines.index(f"tenant {tenant}")
    except ValueError:
        return None
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    return "\n".join(lines[start:end]) + "\n"


def revisions_since(client: Client, revision: int) -> list[int]:
    """Every revision after `revision` that changed something, oldest first."""
    found: list[int] = []
    before: int | None = None
    while True:
        page = client.get("/v1/history", limit=1000, before=before)
        newer = [r["revision"] for r in page if r["revision"] > revision]
        found += [r["revision"] for r in page if r["revision"] > revision and r["change_count"]]
        if len(newer) < len(page) or not page:
            return sorted(found)
        before = min(newer)


def endpoint_lives(client: Client, since: int) -> dict[str, list[tuple[int, str]]]:
    """Endpoint id -> [(revision, create|update|delete), ...] for every change since revision `since`."""
    lives: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for rev in revisions_since(client, since):
        offset = 0
        while True:
            page = client.get(f"/v1/history/{rev}", limit=1000, offset=offset)["changes"]
            for change in page["items"]:
                if change["kind"] == "endpoint":
                    lives[change["key"]["name"]].append((rev, change["operation"]))
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
    return dict(lives)


def wrong_lives(lives: dict[str, list[tuple[int, str]]], deleted: list[str], kept: list[str]) -> dict[str, str]:
    """Endpoints whose life in the history is not what Neutron did, with that life: a port still there was
    created exactly once (never deleted, never created again); a deleted port was created once and then
    deleted once, or never seen at all (the journal sends what Neutron holds when it sends: a port created
    and deleted during an outage never reaches the controller)."""
    wrong = {}
    for eid in kept:
        ops = [op for _, op in lives.get(eid, [])]
        if not (ops[:1] == ["create"] and set(ops[1:]) <= {"update"}):
            wrong[eid] = " ".join(ops) or "(never seen)"
    for eid in deleted:
        ops = [op for _, op in lives.get(eid, [])]
        if ops and not (len(ops) >= 2 and ops[0] == "create" and ops[-1] == "delete" and set(ops[1:-1]) <= {"update"}):
            wrong[eid] = " ".join(ops)
    return wrong


def poll(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.25,
    found: Callable[[], object] | None = None,
) -> Any:
    """Bounded polling: the journal sends asynchronously; a controller that is down answers nothing. On a
    timeout the failure says what `found()` returns then (what there was instead)."""
    import time

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, Unavailable) as exc:  # the controller down or restarting
            last = exc
        if time.monotonic() >= deadline:
            instead = f"\nfound instead:\n{found()}" if found is not None else ""
            raise ChildFailed(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last}){instead}")
        time.sleep(interval)


def segment_endpoints(client: Client, tenant: str, segment: str) -> dict[str, dict[str, Any]]:
    """Endpoint id -> endpoint (the API's JSON) of one segment; empty when the segment is not there."""
    try:
        return {e["id"]: e for e in client.iterate(f"/v1/tenants/{tenant}/segments/{segment}/endpoints")}
    except Missing:
        return {}
