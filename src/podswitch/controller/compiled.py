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
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled: Compiled | None = None

    def get(self, intent: Intent, allocation: Mapping[AllocKey, int], revision: int) -> Compiled:
        current = self._compiled
        if current is not None and current.revision == revision:
            return current
        with self._lock:
            current = self._compiled
            if current is None or current.revision != revision:
                started = time.perf_counter()
                current = compile(intent, allocation, revision, current)
                metrics.COMPILE_SECONDS.observe(time.perf_counter() - started)
                self._compiled = current
            return current
