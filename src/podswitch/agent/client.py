"""The agent's side of the controller API: fetch desired state (ETag / If-None-Match), report status, and
back off politely when the controller is unwell.

The incident this is built against (seed-summary.md): agents that answered a server timeout with a *full*
resync, immediately, all at once. Here a failure never makes an agent ask harder:
- a request that fails waits `Backoff.next()`: exponential, capped, with full jitter, so a herd of agents
  spreads out instead of returning in lockstep;
- `Retry-After` (what the controller's admission control sends with 429/503) is a floor under that delay;
- every request carries the ETag of the state already applied, so the first request after an outage is
  answered with a 304 and costs the controller no compile and no transfer;
- after a failure the next request goes to the next controller of the list."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pydantic

from .. import __version__
from ..fabric.state import FORMAT, FORMAT_HEADER, DesiredState

log = logging.getLogger(__name__)

USER_AGENT = "podswitch-agent"
MAX_RETRY_AFTER = 300.0  # a controller asking for more than this is misconfigured; do not go silent for hours
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ControllerError(Exception):
    """A request failed. `status` is the HTTP status (None for transport errors), `retry_after` the
    controller's Retry-After in seconds when it sent one."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 url: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.url = url

    @property
    def retryable(self) -> bool:
        """False for a client error the same request will always get (400, 401, 404, 422 ...)."""
        return self.status is None or self.status in RETRY_STATUSES or self.status >= 500


class UnreadableState(ControllerError):
    """The controller answered with a desired state this agent cannot use (a newer format, or not a
    valid document). Asking again will not help until one side is upgraded or fixed; the agent reports
    it and keeps forwarding as last programmed."""


def _unreadable(url: str, content: bytes, error: pydantic.ValidationError) -> UnreadableState:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        document = None
    served = document.get("format") if isinstance(document, dict) else None
    if isinstance(served, int) and served != FORMAT:
        return _other_format(url, served)
    # Reported to the controller as a status error: keep it short however many fields are wrong.
    return UnreadableState(f"GET {url}: bad desired state: {error.error_count()} errors: {str(error)[:1000]}", url=url)


def _other_format(url: str, served: int) -> UnreadableState:
    fix = "upgrade the agent" if served > FORMAT else "upgrade the controller"
    return UnreadableState(
        f"GET {url}: the controller serves desired-state format {served}; this agent "
        f"(podswitch {__version__}) reads format {FORMAT} only: {fix}. "
        f"Forwarding stays as last programmed.",
        url=url,
    )


@dataclass(frozen=True)
class Fetched:
    """A desired-state answer: `desired` is None for 304 Not Modified."""

    status: int
    desired: DesiredState | None
    etag: str | None  # the validator to send back in If-None-Match
    url: str


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

    With a Retry-After the controller's delay is the floor and the jitter window is added on top: agents
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


class ControllerClient:
    """Talks to one of several controller URLs; `rotate()` moves on to the next after a failure."""

    def __init__(
        self,
        controllers: list[str],
        switch: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not controllers:
            raise ValueError("no controller URL")
        self.controllers = [c.rstrip("/") for c in controllers]
        self.switch = switch
        self.index = 0
        headers = {
            "User-Agent": f"{USER_AGENT}/{__version__}",
            "Accept": "application/json",
            FORMAT_HEADER: str(FORMAT),
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
            follow_redirects=False,
        )

    @property
    def current(self) -> str:
        return self.controllers[self.index]

    def rotate(self) -> None:
        self.index = (self.index + 1) % len(self.controllers)

    def close(self) -> None:
        self.http.close()

    def _url(self, tail: str) -> str:
        return f"{self.current}/v1/switches/{self.switch}/{tail}"

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as e:  # refused, reset, timeout, DNS ...
            raise ControllerError(f"{method} {url}: {type(e).__name__}: {e}", url=url) from e
        if resp.status_code in RETRY_STATUSES or resp.status_code >= 400:
            raise ControllerError(
                f"{method} {url}: HTTP {resp.status_code} {resp.text[:200]!r}",
                status=resp.status_code,
                retry_after=parse_retry_after(resp.headers.get("retry-after")),
                url=url,
            )
        return resp

    def fetch(self, etag: str | None) -> Fetched:
        """GET the desired state; with `etag`, a 304 means "what you applied is still current"."""
        url = self._url("desired-state")
        headers = {"If-None-Match": etag} if etag else {}
        resp = self._request("GET", url, headers=headers)
        if resp.status_code == 304:
            return Fetched(304, None, etag, url)
        if resp.status_code != 200:
            raise ControllerError(f"GET {url}: unexpected HTTP {resp.status_code}", status=resp.status_code, url=url)
        try:
            desired = DesiredState.model_validate_json(resp.content)
        except pydantic.ValidationError as e:
            raise _unreadable(url, resp.content, e) from e
        if desired.format != FORMAT:
            raise _other_format(url, desired.format)
        if desired.state.switch != self.switch:
            raise ControllerError(f"GET {url}: state is for switch {desired.state.switch!r}", url=url)
        # Send back exactly what the server sent (quotes, weak prefix and all); else the body's own etag.
        return Fetched(200, desired, resp.headers.get("etag") or f'"{desired.etag}"', url)

    def report(self, status: dict[str, Any]) -> None:
        self._request("PUT", self._url("status"), json=status)
