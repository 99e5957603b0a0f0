"""Hitless operation: while `ping -i 0.01` runs between endpoints on different leaves, restarting agents
(SIGTERM, SIGKILL; the lab supervisor starts new ones), restarting the controller, re-applying the same
running-config, changing an unrelated part of the fabric, and even adding a segment to the flows' own
router and server port lose no probe at all.

Three flows, all starting behind leaf1: bridged (hit/web leaf1 -> leaf2), routed (hit/web leaf1 -> hit/db
leaf2) and through tenant system to the outside world (demo endpoint leaf1 -> world behind leaf4). Every
flow runs before the event starts and goes on after it is over (a new agent reported, the controller
answers the agents again, the change is realised everywhere); "no loss" means every probe up to the last
answered one was answered exactly once."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.conftest import Lab, wait_for

from .conftest import (
    DEMO,
    SEED_EP,
    agent_pid,
    apply_and_sync,
    restart_agent,
    restart_controller,
    running_lab,
    wait_new_agent_report,
)
from .probe import Flood, assert_hitless, desired_state, leaf_of, never_reaches, reaches, switch_status, wait_reaches

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TENANT = """\
tenant hit
  logical-router
    route 0.0.0.0/0 next-hop tenant system
    interface segment db
      ip address 10.66.61.1/24
    interface segment web
      ip address 10.66.60.1/24
    interface tenant system
  !
  segment db
    endpoint hdb-b
      attachment-point interface-group compute-b vlan 701
      ip 10.66.61.12
      mac fa:16:3e:61:00:12
  !
  segment web
    endpoint hweb-a
      attachment-point interface-group compute-a vlan 700
      ip 10.66.60.11
      mac fa:16:3e:60:00:11
    !
    endpoint hweb-b
      attachment-point interface-group compute-b vlan 700
      ip 10.66.60.12
      mac fa:16:3e:60:00:12
    !
    endpoint hweb-c
      attachment-point interface-group compute-c vlan 700
      ip 10.66.60.13
      mac fa:16:3e:60:00:13
"""
# Another tenant, linked to system, on leaf3 only: adding or removing it changes the system slice of every
# leaf (a route to its subnet), the flows' leaves included, but nothing the flows use.
OTHER = """\
tenant other
  logical-router
    route 0.0.0.0/0 next-hop tenant system
    interface segment net
      ip address 10.66.70.1/24
    interface tenant system
  !
  segment net
    endpoint oth-c
      attachment-point interface-group compute-c vlan 800
      ip 10.66.70.13
      mac fa:16:3e:70:00:13
"""
NEW_SEGMENT = """\
  !
  segment new
    endpoint hnew-a
      attachment-point interface-group compute-a vlan 702
      ip 10.66.62.11
      mac fa:16:3e:62:00:11
"""
CONFIG = DEMO + TENANT
FLOWS = (("hweb-a", "10.66.60.12"), ("hweb-a", "10.66.61.12"), (SEED_EP[:8], "192.0.2.2"))
SWITCHES = ("leaf1", "leaf2", "leaf3", "leaf4", "spine1", "spine2")
WARMUP, AFTER = 30, 60  # replies per flow before the event, and after it is over


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, CONFIG, "hitless") as lab:
        assert {g: leaf_of(lab, g) for g in ("compute-a", "compute-b", "compute-c", "osvdev0013", "external")} == {
            "compute-a": "leaf1",
            "compute-b": "leaf2",
            "compute-c": "leaf3",
            "osvdev0013": "leaf1",
            "external": "leaf4",
        }
        for src, dst in FLOWS:
            wait_reaches(lab, src, dst)
        yield lab


@contextlib.contextmanager
def flows(lab: Lab, count: int = 12000) -> Iterator[list[Flood]]:
    """The three flows run for the duration of the block (and a little before and after it); then
    nothing may have been lost. `count` probes at most per flow (at 100/s): enough for the longest block."""
    running = [Flood(lab, src, dst, count=count) for src, dst in FLOWS]
    try:
        for f in running:
            f.wait_replies(WARMUP)
        yield running
        for f in running:
            f.wait_replies(AFTER)
    finally:
        results = [f.stop() for f in running]
    for f, result in zip(running, results, strict=True):
        assert_hitless(result, f.name, WARMUP + AFTER)


def agent_logs(lab: Lab, text: str) -> dict[str, int]:
    """How often each switch's agent log says `text`."""
    return {s: (lab.lab_dir / f"agent-{s}.log").read_text(errors="replace").count(text) for s in SWITCHES}


def test_restarting_every_agent_is_hitless(lab: Lab) -> None:
    """SIGTERM to the agents of all switches, those on the three paths included; the lab supervisor starts
    new ones, which find the kernel right and write nothing."""
    with flows(lab):
        old = {s: restart_agent(lab, s) for s in SWITCHES}
        reports = {s: wait_new_agent_report(lab, s, old[s]) for s in SWITCHES}
    assert {s: r["writes"] for s, r in reports.items()} == dict.fromkeys(SWITCHES, 0), reports
    assert all(r["errors"] == [] for r in reports.values()), reports


def test_killed_agent_is_restarted_hitless(lab: Lab) -> None:
    """SIGKILL (no clean shutdown at all) to the agents of leaf1 and leaf2, the leaves of the flows."""
    with flows(lab):
        old = {s: restart_agent(lab, s, signal.SIGKILL) for s in ("leaf1", "leaf2")}
        reports = {s: wait_new_agent_report(lab, s, old[s]) for s in old}
    assert {s: (r["writes"], r["errors"]) for s, r in reports.items()} == {"leaf1": (0, []), "leaf2": (0, [])}


def test_restarting_the_controller_is_hitless(lab: Lab) -> None:
    """The controller goes away and comes back on the same address; the agents keep the kernel as it is
    while it is away and talk to the new one afterwards."""
    revision = lab.revision()
    pids = {s: agent_pid(lab, s) for s in SWITCHES}
    back_before = agent_logs(lab, "reachable again")
    with flows(lab):
        restart_controller(lab)
        wait_for(
            lambda: all(n > back_before[s] for s, n in agent_logs(lab, "reachable again").items()),
            120,
            what=f"every agent to reach the restarted controller\n{lab.diagnostics()}",
        )
        lab.wait_synced()
    assert lab.revision() == revision
    assert {s: agent_pid(lab, s) for s in SWITCHES} == pids  # the agents rode it out, none was restarted


def test_reapplying_the_same_running_config_is_hitless(lab: Lab, tmp_path: Path) -> None:
    """`podswitch show running-config` > file, `podswitch apply -f file`; the same through the API, and the
    module's own text (other order, no topology): no change, no new revision, nothing moves."""
    revision = lab.revision()
    etags = {s: switch_status(lab, s)["etag"] for s in SWITCHES}
    with flows(lab):
        shown = lab.cli("show", "running-config")
        assert shown.returncode == 0, shown.stderr
        (tmp_path / "running-config.txt").write_text(shown.stdout)
        applied = lab.cli("apply", "-f", str(tmp_path / "running-config.txt"))
        assert applied.returncode == 0 and f"no changes (revision {revision})" in applied.stdout, applied
        resp = lab.api.put("/v1/running-config", content=shown.stdout.encode(), headers={"Content-Type": "text/plain"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["changed"] is False and resp.json()["revision"] == revision
        assert lab.apply(CONFIG) == revision
        lab.wait_synced()
    assert lab.revision() == revision
    assert {s: switch_status(lab, s)["etag"] for s in SWITCHES} == etags


def test_a_change_on_the_flows_own_router_and_port_is_hitless(lab: Lab) -> None:
    """Tenant hit gets a third routed segment with an endpoint on compute-a, the flows' own server: a new
    gateway leg in hit's slice on every leaf, a new VLAN on leaf1's swp1 (its tag program is replaced) and
    on compute-a's trunk. Then it goes again. The flows through the same slices and port lose nothing."""
    extra = (
        TENANT.replace(
            "    interface segment web\n",
            "    interface segment new\n      ip address 10.66.62.1/24\n    interface segment web\n",
            1,
        )
        + NEW_SEGMENT
    )
    try:
        with flows(lab):
            apply_and_sync(lab, DEMO + extra)
            lab.wait_endpoint("hnew-a")
            reaches(lab, "hnew-a", "10.66.61.12")
            assert switch_status(lab, "leaf1")["status"]["writes"] > 0
        reaches(lab, "hnew-a", "10.66.60.12")
        with flows(lab):
            apply_and_sync(lab, CONFIG)
            lab.wait_gone("hnew-a")
        assert switch_status(lab, "leaf1")["status"]["writes"] > 0
    finally:
        apply_and_sync(lab, CONFIG)


def test_a_change_elsewhere_is_hitless_for_unrelated_flows(lab: Lab) -> None:
    """A tenant appears on leaf3 and disappears again: the system slices of all leaves get and lose a
    route (the agents of the flows' leaves do write), the flows lose nothing."""
    etag1 = switch_status(lab, "leaf1")["etag"]
    try:
        with flows(lab):
            apply_and_sync(lab, CONFIG + OTHER)
            lab.wait_endpoint("oth-c")
            reaches(lab, "oth-c", "192.0.2.2")
            status = switch_status(lab, "leaf1")["status"]
            assert status["writes"] > 0 and status["errors"] == []  # leaf1 really reconciled, mid-flow
            assert switch_status(lab, "leaf1")["etag"] != etag1
        reaches(lab, "world", "10.66.70.13")
        reaches(lab, "oth-c", "10.66.60.11")  # through system, into tenant hit on leaf1

        with flows(lab):
            apply_and_sync(lab, CONFIG)
            lab.wait_gone("oth-c")
            assert "10.66.70.0/24" not in str(desired_state(lab, "leaf1"))
        never_reaches(lab, "world", "10.66.70.13")
        assert switch_status(lab, "leaf1")["etag"] == etag1
    finally:
        apply_and_sync(lab, CONFIG)
