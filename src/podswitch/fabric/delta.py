"""A switch's next desired state as a delta against the one its agent holds, and the ETag that proves it.

At 100,000 endpoints a leaf's document is about 2 MB, and one new endpoint changes a few of its items. An agent
that holds a state asks with `If-None-Match` and `A-IM: podswitch-delta` (RFC 3229); while the controller still
knows what that state was made of, it answers `226 IM Used` with a `DesiredDelta`: for each list of the
state, hunks `[start, deleted, [items]]` (in order, each index in the list as the hunks before it left it).
The agent applies them to what it holds (`apply_delta`) and recomputes the state's hash from the result
(`etag`): the body's `etag` is a hash of the state's own JSON, so a result that is not byte for byte what the
controller compiled is refused (`DeltaMismatch`), and the agent asks for the whole document again. Otherwise,
and whenever the controller no longer has the base, the answer is the full document (200).

Formats (`fabric/formats.py`): a delta is served only in the controller's own format, and only against a
document the agent holds in that format with the same envelope (the HTTP ETag, `Served.validator`, is
"{state's hash}-{digest of the envelope}": the part before the '-' names the base, the rest must be the
current one's). The delta carries the new envelope whole (revision, etag, `sync`), so what the agent makes
of it is exactly the document it would have received in full, ETag included."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Annotated

from pydantic import Field, TypeAdapter

from .state import (
    FORMAT,
    DesiredState,
    FabricPort,
    LocalMac,
    SegmentBridge,
    Slice,
    SwitchState,
    Sync,
    UnderlayRoute,
    VlanAttachment,
    contract,
    serialize,
)

__all__ = ["DELTA_IM", "SECTIONS", "DeltaMismatch", "DesiredDelta", "StateDelta", "apply_delta", "etag", "etag_of"]

DELTA_IM = "podswitch-delta"  # the instance-manipulation an agent asks for in A-IM, and the 226's IM
# The lists of SwitchState a delta changes, in the order of its fields.
SECTIONS = ("fabric_ports", "underlay_routes", "attachments", "local_macs", "bridges", "slices")

Index = Annotated[int, Field(ge=0)]


@contract(kw_only=True)
class StateDelta:
    """The new state's scalar fields, and the hunks that turn each list of the held state into the new one."""

    switch: str
    role: str
    loopback: str | None = None
    fabric_ports: tuple[tuple[Index, Index, tuple[FabricPort, ...]], ...] = ()
    underlay_routes: tuple[tuple[Index, Index, tuple[UnderlayRoute, ...]], ...] = ()
    attachments: tuple[tuple[Index, Index, tuple[VlanAttachment, ...]], ...] = ()
    local_macs: tuple[tuple[Index, Index, tuple[LocalMac, ...]], ...] = ()
    bridges: tuple[tuple[Index, Index, tuple[SegmentBridge, ...]], ...] = ()
    slices: tuple[tuple[Index, Index, tuple[Slice, ...]], ...] = ()


@contract(kw_only=True)
class DesiredDelta:
    """What a 226 answer to `GET /v1/switches/{name}/desired-state` carries: the new document's envelope
    whole (a controller serves a delta only in its own format, the one `DesiredState` reads with `sync`),
    and its state as hunks against the state held."""

    format: Annotated[int, Field(ge=1)] = FORMAT
    revision: int
    etag: str  # the new state's
    base: str  # the ETag of the state it applies to (its body's `etag`, the state's hash)
    sync: Sync | None = None  # the controller's hints, as the whole document would give them
    state: StateDelta


_DELTA = TypeAdapter(DesiredDelta)


class DeltaMismatch(ValueError):
    """The delta does not apply to the state held, or does not give the state it names: fetch the whole."""


def etag_of(head: bytes, digests: Iterable[bytes]) -> str:
    """The ETag of a state from the JSON of its `head` (the state with no bridges and no slices) and the
    SHA-256 digests of its bridges' and then its slices' JSON. The compiler hashes the parts it already has;
    `etag` computes the same from the objects."""
    digest = hashlib.sha256(head)
    for part in digests:
        digest.update(part)
    return digest.hexdigest()[:32]


def etag(state: SwitchState) -> str:
    """The ETag a controller serves this state under."""
    head = serialize(dataclasses.replace(state, bridges=(), slices=()))
    return etag_of(head, (hashlib.sha256(serialize(p)).digest() for p in (*state.bridges, *state.slices)))


def apply_delta(held: DesiredState, raw: bytes | str) -> DesiredState:
    """The state `raw` (a DesiredDelta's JSON) makes of `held`. Raises `DeltaMismatch` when it is for
    another base or format, a hunk falls outside its list, or the result's ETag is not the one the delta
    names; `ValidationError` when it is not a DesiredDelta."""
    delta = _DELTA.validate_json(raw)
    if delta.format != held.format or delta.base != held.etag:
        raise DeltaMismatch(f"a delta from {delta.base} (format {delta.format}) for a state at {held.etag}")
    lists: dict[str, tuple[object, ...]] = {}
    for name in SECTIONS:
        items: tuple[object, ...] = getattr(held.state, name)
        for start, deleted, inserted in getattr(delta.state, name):
            if start + deleted > len(items):
                raise DeltaMismatch(f"{name}: hunk [{start}, {deleted}] outside {len(items)} items")
            items = (*items[:start], *inserted, *items[start + deleted :])
        lists[name] = items
    state = SwitchState(
        switch=delta.state.switch,
        role=delta.state.role,
        loopback=delta.state.loopback,
        **lists,  # type: ignore[arg-type]
    )
    if etag(state) != delta.etag:
        raise DeltaMismatch(f"the delta gave a state other than {delta.etag}")
    return DesiredState(format=delta.format, revision=delta.revision, etag=delta.etag, sync=delta.sync, state=state)
