"""Which pending rows may be sent now. Pure.

Rows of one project go in order: a tenant's objects all live under it (a port's endpoint in its network's
segment, a router interface on a segment of the tenant), so "no port before its network" is "no row before
the older rows of its projects". A row waiting out a retry delay holds back the later rows of its projects
and nothing else; rows of other projects pass it. A failed row holds back nothing (the consistency check
repairs what it left undone)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pending:
    seq: int
    projects: frozenset[str]
    due: float  # when it may be (re)tried: time.time() scale


def ready(rows: Iterable[Pending], now: float, limit: int) -> list[Pending]:
    """The rows to send now, in order, at most `limit`. `rows` are the pending rows in seq order."""
    held: set[str] = set()
    out: list[Pending] = []
    for row in rows:
        if row.projects & held or row.due > now:
            held |= row.projects
            continue
        out.append(row)
        if len(out) >= limit:
            break
    return out


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Capped exponential delay before a refused row is tried again (the worker adds jitter to its own
    sleeps; a row's due time is deterministic so that `journal status` can say when)."""
    return min(cap, base * 2.0 ** max(attempts - 1, 0))
