"""One side of the storm: a controller process comes back, every agent asks at once; what happened."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass

from podswitch.api.admission import DEFAULT_FULL_STATES, DEFAULT_LONG_POLLS

from .agents import NAIVE, PODSWITCH, Behaviour, storm
from .fabric import Revisions
from .server import Config, Server

MEMORY_CAP_MIB = 6000.0  # a controller past this is stopped: the machine is shared, and it has lost anyway


@dataclass(frozen=True)
class Side:
    behaviour: Behaviour
    config: Config


# As built: admission control at its defaults, the compile cache, agents that back off with jitter.
AS_BUILT = Side(PODSWITCH, Config(DEFAULT_FULL_STATES, DEFAULT_LONG_POLLS, cache=True))
# The seed: no limit on anything, a compile per request, agents that ask for everything again at once.
SEED = Side(NAIVE, Config(full_states=0, long_polls=0, cache=False))


@dataclass
class Outcome:
    name: str
    agents: int
    cap: float
    done: dict[str, float]  # switch -> seconds until its agent held the latest state
    answers: Counter[str]
    wrong: list[str]
    waits: list[tuple[float | None, float]]  # after each failed request: (its Retry-After, the agent's wait)
    compiles: float | None  # by the controller since it started (warming up included); None: it could not say
    cpu_seconds: float  # the controller's, during the storm
    peak_mib: float  # the controller's high-water mark
    aborted: str | None = None

    @property
    def converged(self) -> bool:
        return len(self.done) == self.agents

    @property
    def seconds(self) -> float:
        """Until every agent held the latest state; the cap when they did not."""
        return max(self.done.values()) if self.converged else self.cap

    def percentile(self, q: float) -> tuple[float, bool]:
        """(seconds, at least): an agent that never got there counts as the cap, so the figure is then a
        lower bound."""
        ordered = sorted(self.done.values()) + [self.cap] * (self.agents - len(self.done))
        at = max(0, math.ceil(q * len(ordered)) - 1)
        return ordered[at], at >= len(self.done)


def run(
    url: str,
    revisions: Revisions,
    side: Side,
    cap: float,
    admission: Config | None = None,
    receive_buffer: int | None = None,
) -> Outcome:
    """Start a controller on `url` (the store after the outage's revision) and let every agent loose on it.
    `admission` replaces the side's controller settings (the test uses a smaller limit)."""
    server = Server(url, admission or side.config)
    try:
        cpu = server.cpu_seconds()
        aborted: list[str] = []

        def too_big() -> bool:
            if server.memory_mib() > MEMORY_CAP_MIB and not aborted:
                aborted.append(f"controller stopped past {MEMORY_CAP_MIB:.0f} MiB")
            return bool(aborted)

        tally = asyncio.run(
            storm(server.base, revisions.held, revisions.latest, side.behaviour, cap, too_big, receive_buffer)
        )
        cpu = server.cpu_seconds() - cpu
        after = None if aborted else server.compiles()
        return Outcome(
            name=side.behaviour.name,
            agents=tally.agents,
            cap=cap,
            done=tally.done,
            answers=tally.answers,
            wrong=tally.wrong,
            waits=tally.waits,
            compiles=after,
            cpu_seconds=cpu,
            peak_mib=server.memory_mib("VmHWM"),
            aborted=aborted[0] if aborted else None,
        )
    finally:
        server.stop()
