"""A rolling upgrade in the lab, end to end: a POD whose agents are the previous release's (desired-state
format 1) on today's controller, pings flowing between endpoints on different leaves (bridged, routed, and out
through tenant system); then the agents are replaced one by one with today's. No probe may be lost, each new
agent finds its switch exactly as the old one programmed it (zero writes), and every switch ends up reporting
format 2. Then one switch is rolled back to the previous agent, just as hitless.

The lab execs each switch's agent through a small script (`lab up --agent-command`) that runs the previous
release's `podswitch.agent.main` (tests/upgrade/conftest.py) unless the switch is named in a directory of
upgraded switches; upgrading one is naming it there and stopping its agent: the lab supervisor starts the new
one. Needs root (namespaces); run under `flock /tmp/podswitch-netns.lock` beside other namespace tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dataplane.conftest import restart_agent, wait_new_agent_report
from tests.dataplane.probe import wait_reaches
from tests.dataplane.test_hitless import CONFIG, FLOWS, SWITCHES, flows
from tests.lab.conftest import Lab, running_lab

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TODAY = Path(__file__).resolve().parents[2] / "src"
WRAPPER = """#!/bin/sh
# Exec'd by the lab supervisor as: THIS --switch NAME ...: the previous release's agent unless NAME is upgraded.
if [ -e "{upgraded}/$2" ]; then PYTHONPATH="{today}"; else PYTHONPATH="{previous}"; fi
export PYTHONPATH
exec "{python}" -m podswitch.agent.main "$@"
"""


@pytest.fixture
def rolling(tmp_path_factory: pytest.TempPathFactory, previous_release: Path) -> Iterator[tuple[Lab, Path]]:
    """The lab on today's controller with the previous release's agents; the directory of upgraded switches."""
    where = tmp_path_factory.mktemp("rolling-upgrade")
    upgraded = where / "upgraded"
    upgraded.mkdir()
    wrapper = where / "agent.sh"
    wrapper.write_text(WRAPPER.format(upgraded=upgraded, today=TODAY, previous=previous_release, python=sys.executable))
    wrapper.chmod(0o755)
    with running_lab(tmp_path_factory, CONFIG, "rolling", agent_command=str(wrapper)) as lab:
        for src, dst in FLOWS:
            wait_reaches(lab, src, dst)
        yield lab, upgraded


def reports(lab: Lab) -> dict[str, dict[str, Any]]:
    items = lab.api.get("/v1/switches", params={"limit": 1000}).json()["items"]
    return {s["name"]: s["status"] or {} for s in items if s["name"] in SWITCHES}


def test_agents_upgraded_one_by_one_under_traffic(rolling: tuple[Lab, Path]) -> None:
    lab, upgraded = rolling
    before = reports(lab)
    assert {s: r["agent"]["state_format"] for s, r in before.items()} == dict.fromkeys(SWITCHES, 1), before
    new: dict[str, dict[str, Any]] = {}
    with flows(lab, count=60000):
        for switch in SWITCHES:  # one at a time: the next only once this one reported
            (upgraded / switch).touch()
            new[switch] = wait_new_agent_report(lab, switch, restart_agent(lab, switch))
        # And back: one switch's agent rolled back to the previous release.
        (upgraded / "leaf1").unlink()
        back = wait_new_agent_report(lab, "leaf1", restart_agent(lab, "leaf1"))
    outcome = {s: (r["agent"]["state_format"], r["writes"], r["errors"]) for s, r in new.items()}
    assert outcome == dict.fromkeys(SWITCHES, (2, 0, [])), new  # found as the old agent left it: no write
    assert (back["agent"]["state_format"], back["writes"], back["errors"]) == (1, 0, []), back
    lab.wait_synced()
    after = reports(lab)
    assert {s: r["agent"]["state_format"] for s, r in after.items()} == {**dict.fromkeys(SWITCHES, 2), "leaf1": 1}
