"""Data-plane tests: real packets through a lab POD (tests/lab/conftest.py builds it).

Each module builds one lab for all of its tests with `running_lab` in a module-scoped fixture: a
controller of its own, the module's running-config, `podswitch lab up` (2 spines, 4 leaves; `external` is
on leaf4, the other servers go to the least loaded leaf in name order, which the tests check rather than
assume). Tests that change the intent put the module's config back before they end."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from podswitch.lab.process import ControllerStartError
from tests.builders import SEED_ENDPOINT
from tests.lab.conftest import DEMO_CONFIG, STARTUP_TIMEOUT, Lab, wait_for
from tests.lab.conftest import running_lab as running_lab  # the data-plane modules take it from here

DEMO = DEMO_CONFIG
SEED_EP = SEED_ENDPOINT


def restart_controller(lab: Lab) -> None:
    """Stop the lab's controller (SIGTERM) and start it again on the same port and data dir: the
    supervisor and the agents know its URL."""
    try:
        lab.controller.restart(STARTUP_TIMEOUT)
    except ControllerStartError as exc:
        pytest.fail(str(exc))


def agent_pid(lab: Lab, switch: str) -> int | None:
    pid = lab.state().switches[switch].get("agent_pid")
    return int(pid) if pid else None


def restart_agent(lab: Lab, switch: str, sig: int = signal.SIGTERM) -> int:
    """Stop `switch`'s agent with `sig`; the lab supervisor starts a new one (after a short backoff).
    Returns the old pid."""
    pid = agent_pid(lab, switch)
    assert pid is not None, f"{switch} has no running agent"
    os.kill(pid, sig)
    return pid


def wait_new_agent_report(lab: Lab, switch: str, old_pid: int, timeout: float = 60.0) -> dict[str, Any]:
    """Bounded wait until an agent other than `old_pid` reported a reconcile of the current desired state
    for `switch`; returns its status document."""

    def reported() -> dict[str, Any] | None:
        item = lab.api.get(f"/v1/switches/{switch}").json()
        status = item.get("status") or {}
        pid = (status.get("agent") or {}).get("pid")
        if pid and pid != old_pid and item.get("in_sync"):
            return dict(status)
        return None

    return dict(wait_for(reported, timeout, what=f"a new agent on {switch} to report\n{lab.diagnostics()}"))


def apply_and_sync(lab: Lab, text: str, timeout: float = 90.0) -> int:
    """Replace the intent's tenants with `text` (the lab's topology is kept) and wait until the lab and
    every agent realised it."""
    revision = lab.apply(text)
    lab.wait_synced(timeout)
    return revision


def supervisor_info(lab: Lab) -> str:
    """Where the lab supervisor is when a wait on it times out: revisions, phase, and what each of its
    threads waits for in the kernel (wchan)."""
    lines = []
    try:
        state = lab.state()
        lines.append(
            f"lab state: phase={state.phase} revision={state.revision} controller={lab.revision()} "
            f"supervisor={state.supervisor_pid}"
        )
        pid = state.supervisor_pid
        if pid is not None:
            for task in sorted(os.listdir(f"/proc/{pid}/task")):
                with open(f"/proc/{pid}/task/{task}/wchan") as w, open(f"/proc/{pid}/task/{task}/stat") as s:
                    lines.append(f"  thread {task}: state {s.read().rsplit(')', 1)[1].split()[0]} wchan {w.read()}")
    except Exception as e:  # diagnostics must never hide the failure they explain
        lines.append(f"(no supervisor info: {e!r})")
    return "\n".join(lines) + "\n" + lab.diagnostics()


def wait_lab(lab: Lab, predicate: Any, what: str, timeout: float = 60.0) -> Any:
    """Bounded wait on something the lab supervisor does; on timeout, says where the supervisor is."""
    try:
        return wait_for(predicate, timeout, what=what)
    except pytest.fail.Exception as e:
        raise pytest.fail.Exception(f"{e}\n{supervisor_info(lab)}") from None
