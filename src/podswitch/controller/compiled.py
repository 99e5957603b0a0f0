"""Desired state compiled once per revision, shared by every agent that asks.

Single flight: however many agents ask for a new revision at once, one of them compiles and the others wait
for that result; later requests for the same revision are answered from the cache. Each compile reuses the
previous result for every tenant whose subtree did not change (see `fabric.compile`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from ..fabric import Compiled, compile
from ..fabric.allocate import AllocKey
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
