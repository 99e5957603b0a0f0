"""Desired state compiled once per revision, shared by every agent that asks.

Single flight: however many agents ask for a new revision at once, one of them compiles and the others wait
for that result; later requests for the same revision are answered from the cache. Each compile reuses the
previous result for every tenant whose subtree did not change (see `fabric.compile`).

`OlderStates` keeps a switch's state in an older format (`fabric.formats`), made the first time an agent of
that format asks, for as long as the switch's state is unchanged: only formats actually asked for cost
anything, and only when their downgrade changes the state itself (today's does not)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from ..fabric import Compiled, compile, formats
from ..fabric.allocate import AllocKey
from ..fabric.compile import SwitchEntry
from ..fabric.state import FORMAT
from ..model import Intent
from . import metrics


class CompileCache:
    def __init__(self, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self._compiled: Compiled | None = None
        self.enabled = enabled

    def get(self, intent: Intent, allocation: Mapping[AllocKey, int], revision: int) -> Compiled:
        if not self.enabled:  # every request compiles everything, as a controller without this cache would
            metrics.COMPILES.labels(result="miss").inc()
            return compile(intent, allocation, revision, None)
        current = self._compiled
        if current is not None and current.revision == revision:
            metrics.COMPILES.labels(result="hit").inc()
            return current
        with self._lock:
            current = self._compiled
            if current is not None and current.revision == revision:
                metrics.COMPILES.labels(result="shared").inc()  # another request compiled it meanwhile
            else:
                metrics.COMPILES.labels(result="miss").inc()
                started = time.perf_counter()
                current = compile(intent, allocation, revision, current)
                metrics.COMPILE_SECONDS.observe(time.perf_counter() - started)
                self._compiled = current
            return current


class OlderStates:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, int], tuple[SwitchEntry, bytes]] = {}  # (switch, format) -> (of, state)

    def get(self, switch: str, entry: SwitchEntry, format: int) -> bytes:
        """`entry`'s state JSON in `format`."""
        if not formats.changes_state(FORMAT, format):
            return entry.document
        key = (switch, format)
        known = self._states.get(key)
        # By identity: an unchanged switch keeps its entry object from revision to revision.
        if known is not None and known[0] is entry:
            return known[1]
        with self._lock:  # single flight, like compiles: a downgrade that changes the state parses MBs
            known = self._states.get(key)
            if known is None or known[0] is not entry:
                known = self._states[key] = (entry, formats.downgrade_state(entry.document, FORMAT, format))
            return known[1]
