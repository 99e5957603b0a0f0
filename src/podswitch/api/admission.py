"""Admission control: the controller stays fast for everyone by refusing, politely, what would slow it down.

The seed's outage was a server that every agent asked for everything at once, failed, and was asked again. Here:
- at most `full_states` desired-state documents are being sent at any moment (a leaf's is ~2 MB at the
  sized-for scale); one more is answered 429 with `Retry-After`, at once, never a timeout or a 5xx — and the
  agent waits at least that long, plus jitter, before asking again;
- at most `long_polls` agents may wait for their state to change; one more gets 429 the same way.
304s (the agent holds the current state) are never refused: they cost the controller nothing.

Configured by `PODSWITCH_MAX_FULL_STATES` and `PODSWITCH_MAX_LONG_POLLS` (0: no limit)."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..controller import metrics
from .errors import Refused

FULL_STATES_ENV = "PODSWITCH_MAX_FULL_STATES"
LONG_POLLS_ENV = "PODSWITCH_MAX_LONG_POLLS"
DEFAULT_FULL_STATES = 32
DEFAULT_LONG_POLLS = 10_000
RETRY_AFTER = 1.0  # s: the floor an agent waits after a 429 (it adds its own jitter)


@dataclass
class Admission:
    full_states: int = DEFAULT_FULL_STATES  # 0: no limit
    long_polls: int = DEFAULT_LONG_POLLS  # 0: no limit
    retry_after: float = RETRY_AFTER
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sending: int = field(default=0, repr=False)
    _waiting: int = field(default=0, repr=False)

    @classmethod
    def from_env(cls) -> Admission:
        return cls(
            full_states=int(os.environ.get(FULL_STATES_ENV) or DEFAULT_FULL_STATES),
            long_polls=int(os.environ.get(LONG_POLLS_ENV) or DEFAULT_LONG_POLLS),
        )

    def _busy(self, what: str, message: str) -> Refused:
        metrics.REFUSED_BUSY.labels(what=what).inc()
        # A little spread on top of the floor, so that refused agents do not come back in step.
        after = self.retry_after * (1 + random.random())
        refused = Refused(429, f"{message}; retry after {after:.0f} s", field=None)
        refused.headers = {"Retry-After": str(max(1, round(after)))}
        return refused

    def full_state(self, document: bytes, headers: dict[str, str]) -> Response:
        """The document as a response that holds one of the `full_states` slots until it is sent; 429 when
        none is free."""
        with self._lock:
            if self.full_states and self._sending >= self.full_states:
                raise self._busy("full_state", f"{self._sending} desired states are being sent")
            self._sending += 1
            metrics.FULL_STATES_SENDING.set(self._sending)
        return _Admitted(self, document, headers=headers, media_type="application/json")

    def _sent(self) -> None:
        with self._lock:
            self._sending -= 1
            metrics.FULL_STATES_SENDING.set(self._sending)

    @contextmanager
    def long_poll(self) -> Iterator[None]:
        with self._lock:
            if self.long_polls and self._waiting >= self.long_polls:
                raise self._busy("long_poll", f"{self._waiting} agents are already waiting for changes")
            self._waiting += 1
            metrics.LONG_POLLS.set(self._waiting)
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1
                metrics.LONG_POLLS.set(self._waiting)


CHUNK = 64 * 1024  # bytes per body message of a document


class _Admitted(Response):
    """A response that gives its admission slot back once it is sent (or the client is gone).

    The body goes out in chunks: a server such as uvicorn hands a message to the socket's buffer at once and
    makes the application wait only before the *next* message while that buffer is full. As one message, a
    document was "sent" the moment it was buffered, so the slot came back at once and the limit never held
    (the storm benchmark saw no 429 however small the limit; a thousand documents could sit in buffers)."""

    def __init__(self, admission: Admission, content: bytes, **kwargs: object) -> None:
        super().__init__(content, **kwargs)  # type: ignore[arg-type]
        self._admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            body = self.body
            for at in range(0, max(len(body), 1), CHUNK):
                more = at + CHUNK < len(body)
                await send({"type": "http.response.body", "body": bytes(body[at : at + CHUNK]), "more_body": more})
        finally:
            self._admission._sent()
