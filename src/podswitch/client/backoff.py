"""Waiting politely: exponential backoff with full jitter, and the controller's Retry-After.

The incident this is built against (seed-summary.md): agents that answered a server timeout with a *full*
resync, immediately, all at once. A failure here never makes a client ask harder: each retry waits
uniform(0, min(cap, base * 2**attempt)) — a herd spreads out instead of returning in lockstep — and a
`Retry-After` from the controller's admission control is a floor under that delay."""

from __future__ import annotations

import email.utils
import random
import time

MAX_RETRY_AFTER = 300.0  # a controller asking for more than this is misconfigured; do not go silent for hours


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date. None when absent or unparseable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)).

    With a Retry-After the controller's delay is the floor and the jitter window is added on top: clients
    told "come back in 10 s" do not all come back at exactly 10 s."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.rng = rng if rng is not None else random.Random()
        self.attempts = 0

    def window(self) -> float:
        return min(self.cap, self.base * 2.0 ** min(self.attempts, 64))

    def next(self, retry_after: float | None = None) -> float:
        jitter = self.rng.uniform(0.0, self.window())
        self.attempts += 1
        if retry_after is not None:
            return retry_after + jitter
        return jitter

    def reset(self) -> None:
        self.attempts = 0
