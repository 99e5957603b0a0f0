"""A thousand agents in one process: asyncio over one bounded httpx pool, loopback only.

Each agent holds the ETag of the revision before the outage and asks for its switch's desired state the
moment the controller is back, all at once. How it asks and how it retries is its `Behaviour`: podswitch's
agent (If-None-Match, then a long-poll once it holds the state; after a failure the real `Backoff`, with full
jitter and the controller's `Retry-After` as its floor) or the seed's (everything, every time, and again at
once after a failure)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import random
import socket
import ssl
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from podswitch.client.backoff import Backoff, parse_retry_after
from podswitch.fabric.formats import state_hash
from podswitch.fabric.state import FORMAT, FORMAT_HEADER

# httpcore asks `import sniffio` on every request; without sniffio installed, each failed import searches
# sys.path on disk again (Python caches only successes), which made a thousand agents' requests take seconds
# to leave this process. A None in sys.modules fails the import at once, as it would fail anyway.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

TIMEOUT = 10.0  # s: an agent's request timeout
CONNECT_TIMEOUT = 3.0  # s: as the real client's
ONE = httpx.Limits(max_connections=1, max_keepalive_connections=1)
BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0  # the real agent's defaults (agent/main.py)


@dataclass(frozen=True)
class Behaviour:
    name: str
    conditional: bool  # send the ETag held (If-None-Match)
    push: float  # once holding the latest: long-poll this many seconds (0: stop asking)
    backoff: bool  # after a failure: Backoff + Retry-After; else `retry` seconds, no jitter
    retry: float = 0.1


PODSWITCH = Behaviour("podswitch", conditional=True, push=30.0, backoff=True)
NAIVE = Behaviour("naive", conditional=False, push=0.0, backoff=False)


@dataclass
class Tally:
    """What the agents saw. `done`: seconds after the release until each switch's agent held the latest."""

    agents: int
    released: float  # loop time at which every agent was let go
    answers: Counter[str] = field(default_factory=Counter)
    done: dict[str, float] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)  # answers that were not the switch's latest document
    # After each refusal: (the Retry-After it carried, in s, or None; how long the agent chose to wait)
    waits: list[tuple[float | None, float]] = field(default_factory=list)
    everyone: asyncio.Event = field(default_factory=asyncio.Event)


async def agent(
    http: httpx.AsyncClient,
    switch: str,
    held: str,
    latest: str,
    how: Behaviour,
    tally: Tally,
    rng: random.Random,
) -> None:
    loop = asyncio.get_running_loop()
    backoff = Backoff(BACKOFF_BASE, BACKOFF_CAP, rng)
    holding: str | None = held
    url = f"/v1/switches/{switch}/desired-state"
    while True:
        headers = {FORMAT_HEADER: str(FORMAT)}
        params: dict[str, str] = {}
        timeout = httpx.Timeout(TIMEOUT, connect=CONNECT_TIMEOUT)
        if how.conditional and holding is not None:
            headers["If-None-Match"] = holding
            if how.push and holding == latest:  # the real agent's long-poll: the controller answers on change
                params["wait"] = f"{how.push:g}"
                timeout = httpx.Timeout(how.push + TIMEOUT, connect=CONNECT_TIMEOUT)
        retry_after: float | None = None
        try:
            response = await http.get(url, headers=headers, params=params, timeout=timeout)
        except httpx.TimeoutException:
            tally.answers["timeout"] += 1
        except httpx.HTTPError:
            tally.answers["connection error"] += 1
        else:
            status = response.status_code
            tally.answers["5xx" if status >= 500 else str(status)] += 1
            if status in (200, 304):
                if status == 200:
                    holding = _received(response, switch, latest, tally)
                if holding == latest and switch not in tally.done:
                    tally.done[switch] = loop.time() - tally.released
                    if len(tally.done) == tally.agents:
                        tally.everyone.set()
                backoff.reset()
                if holding == latest and not how.push:
                    return
                continue  # a long-poll again at once: it waits at the controller, not here
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        delay = backoff.next(retry_after) if how.backoff else how.retry
        tally.waits.append((retry_after, delay))
        await asyncio.sleep(delay)


def _received(response: httpx.Response, switch: str, latest: str, tally: Tally) -> str | None:
    """The ETag the agent now holds, after checking the document is the switch's and says so itself (the
    envelope names its ETag within its first bytes; parsing a whole document per agent would make the
    simulation, not the controller, the bottleneck)."""
    etag = response.headers.get("etag")
    # From format 2 the HTTP ETag is the state's hash (the document's own `etag`) and a digest of the rest.
    state = state_hash(etag.strip('"')) if etag else ""
    if etag is None or b'"etag":"%s"' % state.encode() not in response.content[:300]:
        tally.wrong.append(f"{switch}: a document without its ETag {etag}")
        return None
    if etag != latest:
        tally.wrong.append(f"{switch}: {etag}, not the latest {latest}")
    return etag


async def storm(
    base: str,
    held: dict[str, str],
    latest: dict[str, str],
    how: Behaviour,
    cap: float,
    abort: Callable[[], bool] = lambda: False,
    receive_buffer: int | None = None,
) -> Tally:
    """Release one agent per switch at once; return when every one holds its latest state, after `cap`
    seconds, or once `abort()` (asked twice a second) says so, whichever comes first; the agents still
    asking are then stopped. `receive_buffer` (bytes) makes each agent's socket small, as a network slower
    than loopback would: a document then takes a while to send, which is what admission control bounds."""
    rng = random.Random(len(latest))  # the same draws run after run, each agent its own stream below
    # One client and one connection per agent, as each real agent has: one pool shared by a thousand
    # requests costs httpcore time quadratic in its connections, and the simulation becomes what is slow.
    tls = ssl.create_default_context()  # made once: every client would build its own (~10 ms each)
    small = [(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)] if receive_buffer else None
    clients = [
        # trust_env=False: no proxy from the environment stands between the agents and 127.0.0.1
        httpx.AsyncClient(
            base_url=base,
            transport=httpx.AsyncHTTPTransport(verify=tls, limits=ONE, socket_options=small),
            trust_env=False,
        )
        for _ in latest
    ]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
        tally = Tally(agents=len(latest), released=asyncio.get_running_loop().time())
        tasks = [
            asyncio.create_task(agent(client, switch, held[switch], etag, how, tally, random.Random(rng.random())))
            for client, (switch, etag) in zip(clients, sorted(latest.items()), strict=True)
        ]
        loop = asyncio.get_running_loop()
        try:
            while not tally.everyone.is_set() and loop.time() - tally.released < cap and not abort():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tally.everyone.wait(), min(0.5, cap))
        finally:
            for task in tasks:
                task.cancel()
            ended = await asyncio.gather(*tasks, return_exceptions=True)
    broken = [e for e in ended if isinstance(e, Exception)]
    if broken:  # a bug of the simulation must not pass for a slow controller
        raise broken[0]
    return tally
