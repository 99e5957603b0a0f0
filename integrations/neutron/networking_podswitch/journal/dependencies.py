"""Which pending rows may be sent now. Pure.

A row waits for the older rows about the same object or about one of its parents (the network a port is
on, the project whose tenant holds it): no port before its network, no endpoint before its tenant, a port's
rows in their order. A row that may not go yet (waiting out a retry delay, or itself waiting) holds back the
later rows that depend on it and nothing else. A failed row holds back nothing: the consistency check
repairs what it left undone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pending:
    seq: int
    key: str  # the object the row is about
    parents: frozenset[str]
    due: float  # when it may be (re)tried: time.time() scale


def ready(rows: Iterable[Pending], now: float, limit: int, held: Iterable[str] = ()) -> list[Pending]:
    """The rows to send now, in order, at most `limit`. `rows` are the pending rows in seq order; `held`
    objects whose rows may not go now (refused earlier in this pass)."""
    waiting = set(held)
    out: list[Pending] = []
    for row in rows:
        if row.key in waiting or row.parents & waiting or row.due > now:
            waiting.add(row.key)
            continue
        out.append(row)
        if len(out) >= limit:
            break
    return out


def waits_for(row_key: str, row_parents: frozenset[str], earlier_key: str) -> bool:
    """Whether a row must wait for an earlier row about `earlier_key`."""
    return row_key == earlier_key or earlier_key in row_parents


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Capped exponential delay before a refused row is tried again (deterministic, so that `journal
    status` can say when; the worker's own sleeps are jittered)."""
    return min(cap, base * 2.0 ** max(attempts - 1, 0))
