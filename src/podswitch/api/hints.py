"""The sync hints every desired-state document (format 2 on) gives its agent: how long a request waits at the
controller for a change, and how often the agent repairs drift from its cached state. Set for the whole fabric
here instead of on each switch: `PODSWITCH_AGENT_LONG_POLL` and `PODSWITCH_AGENT_RESYNC` (seconds, default 30
each). An agent started with `--push` or `--resync` keeps its own value; an agent of format 1 never sees them.

A change reaches agents at once: the ETag covers the hints, so every agent gets its document again (one full
answer each, paced by admission control like any other)."""

from __future__ import annotations

import os

from ..controller import MAX_LONG_POLL, Sync

LONG_POLL_ENV = "PODSWITCH_AGENT_LONG_POLL"
RESYNC_ENV = "PODSWITCH_AGENT_RESYNC"


def from_env() -> Sync:
    """The hints the environment sets; a value out of range stops the controller at start, naming it."""
    default = Sync()
    long_poll = float(os.environ.get(LONG_POLL_ENV) or default.long_poll)
    resync = float(os.environ.get(RESYNC_ENV) or default.resync)
    if not 0 <= long_poll <= MAX_LONG_POLL:
        raise ValueError(f"{LONG_POLL_ENV}={long_poll:g}: must be 0 (agents poll) to {MAX_LONG_POLL:g} seconds")
    if not resync > 0:
        raise ValueError(f"{RESYNC_ENV}={resync:g}: must be more than 0 seconds")
    return Sync(long_poll=long_poll, resync=resync)
