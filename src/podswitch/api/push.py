"""Push, not poll: an agent's request for its desired state may wait (`?wait=SECONDS`, with the ETag it holds
in If-None-Match) until that state changes, and is answered the moment it does.

`Revisions` is one event loop's view of the controller's revision. The controller calls it on every new
snapshot (a commit here, or a catch-up with what another controller committed), from whatever thread moved
it; it hands the news to the loop, where the waiting requests wake. Nothing polls while nobody waits: only
when long-polls are open does a watcher ask the store for its head (every `watch_interval`), so that a
revision another controller committed reaches this controller's waiters too."""

from __future__ import annotations

import asyncio
import contextlib
import weakref

from fastapi.concurrency import run_in_threadpool

from ..controller import Controller

WATCH_INTERVAL = 0.1  # s between head checks while long-polls are open (one small query)


class Revisions:
    def __init__(self, ctl: Controller, loop: asyncio.AbstractEventLoop, watch_interval: float) -> None:
        self.ctl = ctl
        self.loop = loop
        self.watch_interval = watch_interval
        self.revision = ctl.snapshot().revision
        self.waiting = 0
        self._changed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._stop = ctl.listen(self._from_thread)

    def close(self) -> None:
        self._stop()

    def _from_thread(self, revision: int) -> None:
        if self.loop.is_closed():  # nobody can wait on it any more
            self.close()
            return
        with contextlib.suppress(RuntimeError):  # closed in between
            self.loop.call_soon_threadsafe(self._bump, revision)

    def _bump(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def beyond(self, revision: int, timeout: float) -> bool:
        """Wait until the controller is past `revision` (True) or `timeout` seconds pass (False)."""
        deadline = self.loop.time() + timeout
        self.waiting += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = self.loop.create_task(self._watch())
        try:
            while self.revision <= revision:
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            return True
        finally:
            self.waiting -= 1

    async def _watch(self) -> None:
        """While anyone waits: notice revisions other controllers commit (the catch-up it starts tells us)."""
        while self.waiting > 0:
            await asyncio.sleep(self.watch_interval)
            with contextlib.suppress(Exception):  # a store hiccup: the next round tries again
                await run_in_threadpool(self.ctl.refresh, 0.0)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Revisions]] = weakref.WeakKeyDictionary()


def revisions(ctl: Controller, watch_interval: float = WATCH_INTERVAL) -> Revisions:
    """This event loop's Revisions for `ctl` (one per loop and controller: a test client may run each request
    in a loop of its own, and a test may run several controllers in one process)."""
    loop = asyncio.get_running_loop()
    per_loop = _BY_LOOP.setdefault(loop, {})
    found = per_loop.get(id(ctl))
    if found is None or found.ctl is not ctl:
        found = per_loop[id(ctl)] = Revisions(ctl, loop, watch_interval)
    return found
