"""The lab POD on two controllers sharing the real PostgreSQL, its supervisor and agents given both URLs:
while three flows ping (tests/dataplane/test_hitless.py), `kill -9` of the leading controller, and then
restarting every controller and every agent in an interleaved order, lose no probe; the survivors take the
duties and the agents follow changes made through them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy.engine import URL

from podswitch.lab.process import ControllerProcess, ControllerStartError
from tests.lab.conftest import STARTUP_TIMEOUT, TOKEN, Lab, require_root, start_lab, stop_lab, wait_for
from tests.store.conftest import empty_pg, pg_database  # noqa: F401  (fixture)

from .conftest import restart_agent, wait_new_agent_report
from .probe import leaf_of, wait_reaches
from .test_hitless import CONFIG, FLOWS, OTHER, SWITCHES, flows

pytestmark = [pytest.mark.netns, pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Pair(ControllerProcess):
    """Two `podswitch serve` on one database and data dir, seen by the lab as one controller: its URL is
    both URLs (leader first, so a kill of the leader is what the agents meet), its API client talks to
    `reader`."""

    members: list[ControllerProcess] = field(default_factory=list)
    reader: int = 0

    @property
    def url(self) -> str:
        return ",".join(m.url for m in self.members)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        member = self.members[self.reader]
        return httpx.Client(base_url=member.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout)

    def stop(self, timeout: float = 15.0) -> None:
        for m in self.members:
            m.stop(timeout)


def _leader(members: list[ControllerProcess]) -> ControllerProcess | None:
    for member in members:
        try:
            listed = httpx.get(f"{member.url}/v1/controllers", timeout=5).json()
        except httpx.HTTPError:
            continue
        leaders = [c for c in listed if c["leader"] and c["seconds_since_seen"] < 3]
        if len(leaders) == 1:
            port = int(leaders[0]["address"].rsplit(":", 1)[1])
            return next((m for m in members if m.port == port), None)
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, pg_database: URL) -> Iterator[Lab]:  # noqa: F811
    require_root()
    db = empty_pg(pg_database)
    data = tmp_path_factory.mktemp("ha") / "data"
    members: list[ControllerProcess] = []
    try:
        for _ in range(2):
            members.append(ControllerProcess(data, TOKEN, db=db, log_level="info").start(STARTUP_TIMEOUT))
    except ControllerStartError as exc:
        for m in members:
            m.kill()
        pytest.fail(str(exc))
    leader = wait_for(lambda: _leader(members), 30, what="one of the two controllers to lead")
    ordered = [leader, *(m for m in members if m is not leader)]
    pair = Pair(data, TOKEN, port=ordered[1].port, members=ordered, reader=1)
    try:
        lab = start_lab(pair, CONFIG)
        try:
            assert leaf_of(lab, "compute-a") == "leaf1"
            for src, dst in FLOWS:
                wait_reaches(lab, src, dst)
            yield lab
        finally:
            stop_lab(lab)
    finally:
        for m in members:
            m.kill()


def _pair(lab: Lab) -> Pair:
    assert isinstance(lab.controller, Pair)
    return lab.controller


def test_killing_the_leading_controller_loses_no_ping_and_the_other_takes_over(lab: Lab) -> None:
    pair = _pair(lab)
    leader, other = pair.members
    with flows(lab):
        leader.kill()
        assert wait_for(lambda: _leader([other]), 30, what="the surviving controller to lead") is other
        # The agents follow a change made through the survivor, then its undoing.
        revision = lab.apply(CONFIG + OTHER)
        lab.wait_synced(90)
        lab.apply(CONFIG)
        lab.wait_synced(90)
    assert lab.revision() > revision
    leader.start(STARTUP_TIMEOUT)  # whole again for the next test; it now follows
    assert wait_for(lambda: _leader(pair.members), 30, what="one leader of the two") is other


def test_restarting_every_controller_and_agent_interleaved_loses_no_ping(lab: Lab) -> None:
    pair = _pair(lab)
    first, second = pair.members
    with flows(lab):
        first.restart(STARTUP_TIMEOUT)
        old = {s: restart_agent(lab, s) for s in SWITCHES[:3]}
        second.restart(STARTUP_TIMEOUT)
        old |= {s: restart_agent(lab, s) for s in SWITCHES[3:]}
        reports = {s: wait_new_agent_report(lab, s, old[s], timeout=90) for s in SWITCHES}
        lab.wait_synced(90)
    assert {s: (r["writes"], r["errors"]) for s, r in reports.items()} == dict.fromkeys(SWITCHES, (0, []))
    assert wait_for(lambda: _leader(pair.members), 30, what="one leader after the restarts") is not None


def test_every_controller_lists_the_same_single_leader(lab: Lab) -> None:
    pair = _pair(lab)
    views = [httpx.get(f"{m.url}/v1/controllers", timeout=5).json() for m in pair.members]
    leaders = [{c["id"] for c in view if c["leader"] and c["seconds_since_seen"] < 3} for view in views]
    assert len(leaders[0]) == 1 and leaders[0] == leaders[1]
