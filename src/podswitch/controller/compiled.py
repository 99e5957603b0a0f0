"""Desired state compiled once per revision, shared by every agent that asks.

Single flight: however many agents ask for a new revision at once, one of them compiles and the others wait
for that result; later requests for the same revision are answered from the cache. Each compile reuses the
previous result for every tenant whose subtree did not change (see `fabric.compile`).

Compiling ahead: while agents wait for the next revision, a write hands the intent it is about to commit to
`ahead` before it writes to the store; a worker compiles it while the store's commit waits on the disk (which
holds no GIL). The result is adopted only for the very revision, intent and allocation it was compiled from
(a write that fails or is recomputed leaves it unused), so the agents' requests find it ready or nearly."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ..fabric import Compiled, compile
from ..fabric.allocate import AllocKey
from ..model import Intent
from . import metrics


class CompileCache:
    def __init__(self, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self._compiled: Compiled | None = None
        # (intent, allocation, result) compiled ahead of the revision's commit
        self._ahead: tuple[Intent, Mapping[AllocKey, int], Compiled] | None = None
        self._worker: ThreadPoolExecutor | None = None
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
            ahead = self._ahead
            if current is not None and current.revision == revision:
                metrics.COMPILES.labels(result="shared").inc()  # another request compiled it meanwhile
            elif ahead is not None and ahead[2].revision == revision and ahead[0] is intent and ahead[1] is allocation:
                metrics.COMPILES.labels(result="ahead").inc()
                current = self._compiled = ahead[2]
                self._ahead = None
            else:
                metrics.COMPILES.labels(result="miss").inc()
                current = self._compiled = self._compile(intent, allocation, revision, current)
                if ahead is not None and ahead[2].revision <= revision:
                    self._ahead = None  # compiled ahead for a write that did not land as it
            return current

    def _compile(
        self, intent: Intent, allocation: Mapping[AllocKey, int], revision: int, previous: Compiled | None
    ) -> Compiled:
        started = time.perf_counter()
        result = compile(intent, allocation, revision, previous)
        metrics.COMPILE_SECONDS.observe(time.perf_counter() - started)
        return result

    def ahead(self, intent: Intent, allocation: Mapping[AllocKey, int], revision: int) -> None:
        """Start compiling `intent` as `revision`, which is about to be committed (see the module's doc)."""
        if not self.enabled:
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="podswitch-compile-ahead")
        self._worker.submit(self._ahead_worker, intent, allocation, revision)

    def _ahead_worker(self, intent: Intent, allocation: Mapping[AllocKey, int], revision: int) -> None:
        with self._lock:
            current = self._compiled
            if current is not None and current.revision >= revision:
                return  # committed and compiled already (or another revision took its place)
            self._ahead = (intent, allocation, self._compile(intent, allocation, revision, current))
