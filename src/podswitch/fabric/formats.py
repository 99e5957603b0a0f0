"""Every desired-state format a controller serves: its own (`state.FORMAT`) and, by downgrading, older ones.

A rolling upgrade goes controllers first: for a while an upgraded controller serves agents of the previous
release, which read only the format they were built for (`state.py` refuses what it does not know). Each
agent says which format it reads (`FORMAT_HEADER`); the controller answers with the newest format it can
produce that is not newer than that (`negotiate`), or refuses (`Unserved`) an agent older than every format
it can still produce.

`DOWNGRADES` is the table: format N -> how a document of format N becomes one of format N-1. A document is
built in the current format and walked down the table. Each step is pure and exact: what it produces is
byte for byte what a controller of that older format served for the same intent (tests/fabric/test_formats.py
holds it over generated intents; tests/upgrade runs the previous release's own code against it).

A document is its envelope (format, revision, etag, and whatever later formats add) and its `state`, the
big part (MBs on a large leaf), which stays serialized: a step that changes only the envelope costs nothing
per request, and only one that changes the state has to parse it (the controller then keeps its result per
switch state, `controller/compiled.py`).

The HTTP validator (ETag) differs per format, so a 304 for one format is never the answer to another; it
also covers what the envelope adds (new `sync` hints reach agents that hold the state already). Format 1's
validator is the state's own hash, as format-1 controllers served it: an old agent that held a state before
its controller was upgraded keeps getting 304s after."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .state import FORMAT, FORMAT_HEADER, Sync

__all__ = [
    "DOWNGRADES",
    "OLDEST",
    "Served",
    "Step",
    "Unserved",
    "current",
    "downgrade",
    "downgrade_envelope",
    "downgrade_state",
    "negotiate",
    "state_hash",
]

# The fields of a document around `state`, as JSON values, in the order they are served.
Envelope = Mapping[str, Any]
# Each function below takes the table as an argument (default: `DOWNGRADES`, looked up when called), so a test
# can hold the machinery to formats that do not exist yet: one that changes the state, one no longer served.


@dataclass(frozen=True)
class Step:
    """How a document of one format becomes one of the format before it."""

    envelope: Callable[[Envelope], dict[str, Any]]
    # The state's JSON in the older format, for a format that changed the state itself (parses MBs).
    state: Callable[[bytes], bytes] | None = None


def _without_sync(envelope: Envelope) -> dict[str, Any]:
    """2 -> 1: format 2 only added `sync`."""
    older = {name: value for name, value in envelope.items() if name != "sync"}
    older["format"] = 1
    return older


DOWNGRADES: Mapping[int, Step] = {2: Step(_without_sync)}


def oldest(downgrades: Mapping[int, Step] | None = None, newest: int = FORMAT) -> int:
    """The oldest format `downgrades` (default: the table) reach from `newest` without a gap."""
    downgrades = DOWNGRADES if downgrades is None else downgrades
    format = newest
    while format in downgrades:
        format -= 1
    return format


OLDEST = oldest()


class Unserved(Exception):
    """An agent asked for a format older than every one this controller can produce."""

    def __init__(self, asked: int, oldest: int, newest: int) -> None:
        self.asked, self.oldest, self.newest = asked, oldest, newest
        super().__init__(
            f"the agent reads desired-state format {asked} ({FORMAT_HEADER}); this controller serves formats "
            f"{oldest} to {newest}: upgrade the agent. Its switch keeps forwarding as last programmed."
        )


def negotiate(asked: int | None, downgrades: Mapping[int, Step] | None = None, newest: int = FORMAT) -> int:
    """The format to serve an agent that reads `asked`: the newest this controller produces that is not newer.
    No header (`None`) gets the newest: every agent that can read any format served today sends the header
    (since format 1), so a request without one is a person or a tool, who wants the document as it is now."""
    if asked is None or asked >= newest:
        return newest
    first = oldest(downgrades, newest)
    if asked < first:
        raise Unserved(asked, first, newest)
    return asked


def downgrade_envelope(envelope: Envelope, to: int, downgrades: Mapping[int, Step] | None = None) -> Envelope:
    downgrades = DOWNGRADES if downgrades is None else downgrades
    for format in range(envelope["format"], to, -1):
        envelope = downgrades[format].envelope(envelope)
    return envelope


def changes_state(start: int, to: int, downgrades: Mapping[int, Step] | None = None) -> bool:
    """Whether walking from format `start` down to `to` changes the state (else its bytes are served as is)."""
    downgrades = DOWNGRADES if downgrades is None else downgrades
    return any(downgrades[f].state is not None for f in range(start, to, -1))


def downgrade_state(state: bytes, start: int, to: int, downgrades: Mapping[int, Step] | None = None) -> bytes:
    downgrades = DOWNGRADES if downgrades is None else downgrades
    for format in range(start, to, -1):
        step = downgrades[format].state
        if step is not None:
            state = step(state)
    return state


@dataclass(frozen=True)
class Served:
    """A switch's desired-state document in one format: its envelope and its state's JSON."""

    envelope: Envelope
    state: bytes

    @property
    def format(self) -> int:
        return int(self.envelope["format"])

    @property
    def revision(self) -> int:
        return int(self.envelope["revision"])

    def json(self) -> bytes:
        """As served: the envelope's fields in order, then `state` (compact JSON, like `state.serialize`)."""
        return b'%s,"state":%s}' % (orjson.dumps(self.envelope)[:-1], self.state)

    def validator(self) -> str:
        """The HTTP ETag's value (unquoted): the state's hash, and from format 2 on a digest of every
        envelope field that does not change with each revision (the format itself among them)."""
        etag = str(self.envelope["etag"])
        if self.format == 1:
            return etag
        rest = {name: value for name, value in self.envelope.items() if name not in ("revision", "etag")}
        return f"{etag}-{hashlib.sha256(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]}"

    def held_state(self, validator: str) -> str | None:
        """The state's hash in `validator` (an ETag's value, unquoted) when `validator` is what this document
        would be served under with another state: the same format and the same envelope but for `revision`
        and `etag`. That is what a delta needs of the document an agent holds (`fabric.delta`). None for a
        validator of another format or other hints."""
        if self.format == 1:
            return None if "-" in validator else validator
        state, dash, rest = validator.partition("-")
        return state if dash and state and rest == self.validator().partition("-")[2] else None


def state_hash(validator: str) -> str:
    """The state's hash in a validator (an ETag's value, unquoted) of any format: format 1's is the hash,
    later ones append `-` and a digest of the envelope (`Served.validator`)."""
    return validator.partition("-")[0]


def current(revision: int, etag: str, state: bytes, sync: Sync) -> Served:
    """A switch's document in this release's format."""
    return Served({"format": FORMAT, "revision": revision, "etag": etag, "sync": sync}, state)


def downgrade(document: Served, to: int, downgrades: Mapping[int, Step] | None = None) -> Served:
    """`document` as a controller of format `to` would have served it (`to` no newer than its format)."""
    start = document.format
    return Served(
        downgrade_envelope(document.envelope, to, downgrades), downgrade_state(document.state, start, to, downgrades)
    )
