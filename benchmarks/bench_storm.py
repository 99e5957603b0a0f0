"""The seed's outage, replayed: 1,000 agents (996 leaves, 4 spines; 25,600 endpoints) lose the controller, a
revision that changes every switch's state lands meanwhile, the controller process comes back and all of
them ask for their state at once. Side by side in one run: podswitch as built (admission control, the
compile cache, agents with ETags, long-polls and jittered backoff that honours Retry-After) and the seed
(no admission control, a compile per request, agents that ask for everything and retry at once). Each run
is cut off after PODSWITCH_STORM_CAP seconds (default 120): a side that did not converge by then shows the
cap, and the ratio is a lower bound ("≥")."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from tests.storm.fabric import Shape, prepare
from tests.storm.run import AS_BUILT, SEED, Outcome, run

from benchmarks.common import Result, emit, quiet_logs
from podswitch.store import Store

SHAPE = Shape(leaves=996, spines=4, tenants=800, segments=4, endpoints=8)
CAP = float(os.environ.get("PODSWITCH_STORM_CAP") or 120)


def report(outcome: Outcome) -> None:
    """Both runs' figures, named after the side ("naive" is the seed's)."""
    side = outcome.name
    at_least = "" if outcome.converged else "≥ "
    p50, p50_bound = outcome.percentile(0.5)
    p99, p99_bound = outcome.percentile(0.99)
    answers = outcome.answers
    print(
        f"{side}: {len(outcome.done)}/{outcome.agents} on the latest state after {at_least}{outcome.seconds:.1f} s; "
        f"p50 {'≥ ' * p50_bound}{p50:.2f} s, p99 {'≥ ' * p99_bound}{p99:.2f} s; answers {dict(answers)}; "
        f"compiles {outcome.compiles}; controller CPU {outcome.cpu_seconds:.1f} s, peak {outcome.peak_mib:.0f} MiB"
        + (f"; {outcome.aborted}" if outcome.aborted else ""),
        file=sys.stderr,
    )
    target = side == AS_BUILT.behaviour.name
    emit(Result(f"storm, {side}: p50 agent until latest state", p50, "s"))
    emit(Result(f"storm, {side}: p99 agent until latest state", p99, "s"))
    for what in ("timeout", "5xx"):
        emit(Result(f"  {what}s", answers[what], "", "0" if target else "", ok=answers[what] == 0 if target else None))
    emit(Result("  429s", answers["429"], ""))
    if outcome.compiles is not None:
        emit(Result("  compiles", outcome.compiles, ""))
    emit(Result("  controller CPU", outcome.cpu_seconds, "s"))
    emit(Result("  controller peak memory", outcome.peak_mib, "MiB"))


def main() -> None:
    with quiet_logs(), tempfile.TemporaryDirectory(prefix="podswitch-storm-") as tmp:
        url = Store.default_url(Path(tmp))
        started = time.perf_counter()
        revisions = prepare(url, SHAPE)
        print(f"fabric of {SHAPE.switches} switches stored in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        podswitch = run(url, revisions, AS_BUILT, CAP)
        report(podswitch)
        naive = run(url, revisions, SEED, CAP)
        report(naive)
    ratio = naive.seconds / podswitch.seconds
    bound = "≥ " if not naive.converged else ""
    print(f"time until all hold the latest state: naive / podswitch = {bound}{ratio:.1f}x", file=sys.stderr)
    cut = "" if podswitch.converged else " (cut off)"
    emit(
        Result(
            f"storm, 1,000 agents: until all hold the latest state, podswitch{cut}",
            podswitch.seconds,
            "s",
            "≥ 5x faster than naive",
            "naive" + (f", cut off at {CAP:.0f} s" if not naive.converged else ""),
            naive.seconds,
            podswitch.converged and ratio >= 5,
        )
    )
    emit(Result(f"  naive / podswitch{' (at least)' if bound else ''}", ratio, "x", "≥ 5x", ok=ratio >= 5))


if __name__ == "__main__":
    main()
