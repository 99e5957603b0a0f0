"""The storm benchmark's harness (`tests/storm`, `benchmarks/bench_storm.py`) at a hundred agents: every
agent loses the controller, a revision that changes every switch lands meanwhile, the controller comes back,
all of them ask at once. Counts and correctness only, never time: a loaded machine makes everything slower
but must not make this fail.

It fails if the compile cache stops sharing one compile, if admission control stops refusing beyond its
limit, or if the agents stop honouring Retry-After or stop spreading their retries with jitter."""

from __future__ import annotations

from pathlib import Path

import pytest

from podswitch.store import Store
from tests.storm.fabric import Revisions, Shape, prepare
from tests.storm.run import AS_BUILT, SEED, Outcome, run
from tests.storm.server import Config

CAP = 120.0  # s: a bound, never an expectation
# 100 switches whose documents (~250 KB: every tenant routes through tenant system) outgrow a slow link's
# buffers, so that documents are really in flight at once and admission control has something to bound.
SHAPE = Shape(leaves=96, spines=4, tenants=250, segments=4, endpoints=2, linked=True)
LIMITED = Config(full_states=8, long_polls=10_000, cache=True, send_buffer=16 * 1024)
SLOW_LINK = 8 * 1024  # each agent's receive buffer
# The seed's controller compiles for every request: a small fabric, or it never catches up at all.
SMALL = Shape(leaves=46, spines=4, tenants=10, segments=2, endpoints=2)


@pytest.fixture(scope="module")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Revisions]:
    url = Store.default_url(Path(tmp_path_factory.mktemp("storm")))
    return url, prepare(url, SHAPE)


def failures(outcome: Outcome) -> dict[str, int]:
    return {k: outcome.answers[k] for k in ("5xx", "timeout", "connection error") if outcome.answers[k]}


def test_every_agent_gets_the_latest_state_with_one_compile_and_no_failure(fabric: tuple[str, Revisions]) -> None:
    url, revisions = fabric
    outcome = run(url, revisions, AS_BUILT, CAP, LIMITED, receive_buffer=SLOW_LINK)
    assert outcome.aborted is None and outcome.wrong == []
    assert outcome.converged, f"{outcome.agents - len(outcome.done)} agents without the latest state"
    assert failures(outcome) == {}
    assert outcome.compiles == 1  # a hundred agents asking at once for a new revision: one compile
    # More agents than slots: admission refused some, and none of them more than once without backing off.
    assert outcome.answers["429"] > 0
    refusals = [(after, waited) for after, waited in outcome.waits if after is not None]
    assert len(refusals) == outcome.answers["429"] == len(outcome.waits)
    assert all(after >= 1 and waited >= after for after, waited in refusals)  # Retry-After honoured
    jitter = [waited - after for after, waited in refusals]
    assert max(jitter) - min(jitter) > 0.1  # spread over the jitter window, not back in lockstep


def test_the_seeds_controller_compiles_for_every_request(tmp_path: Path) -> None:
    url = Store.default_url(tmp_path)
    revisions = prepare(url, SMALL)
    outcome = run(url, revisions, SEED, CAP)
    assert outcome.aborted is None and outcome.wrong == []
    assert outcome.converged
    assert outcome.answers["429"] == 0  # no admission control
    full = outcome.answers["200"]
    assert full >= SMALL.switches and outcome.compiles is not None and outcome.compiles >= full
