"""Desired state of one switch: what the agent must make its kernel look like.

This is the contract between the compiler (pure, in the controller) and the agent (on the switch), stated
once: the compiler builds these classes, `serialize` turns them into the JSON served by
`GET /v1/switches/{name}/desired-state`, and the agent reads that JSON back into the same classes with
`parse_desired`. Every device name is given here explicitly so the agent never invents names, and every
list is sorted so equal states serialize to equal bytes.

Namespaces: the switch's own namespace holds the underlay, the segment bridges, VXLAN devices and the
VLAN attachments. Each router slice lives in a namespace of its own named `<switch-ns>-<slice.name>`
(`podswitch-<slice.name>` on a real switch); slices are linked to segment bridges and to each other by
veth pairs whose ends are named here.

Why plain dataclasses, and not pydantic models, slots or frozen ones (measured with Python 3.11, orjson 3.13,
pydantic 2.14; a full compile at 100,000 endpoints on 64 leaves builds about 550,000 of these objects):
- building one: a dict literal 80 ns, one of these 140 ns (positional; keywords 260 ns), a pydantic
  model 780 ns;
- orjson serializes a dataclass that has a `__dict__` about as fast as a dict (60 ns an object against
  40-55), but one with `__slots__` field by field, 400 ns: so no slots;
- `frozen=True` makes `__init__` set each field through `object.__setattr__`: 400 ns to build one.
  Full compile in benchmarks/bench_compile.py (CPU seconds, best of 3): the dicts this replaced 0.86,
  these 0.84, the same frozen 0.97, frozen with slots 1.13, slots 1.00.
So the classes are frozen to the type checker only (`dataclass_transform(frozen_default=True)`: mypy
rejects an assignment to a field) and hash by value as frozen ones do; at run time nothing stops a
mutation in unchecked code. Nothing mutates them: make a changed copy with `dataclasses.replace`.
On the agent's side pydantic validates the JSON into these very classes (`parse_desired`): strictly
(no "300" for 300) and refusing unknown fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, dataclass_transform, overload

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "FORMAT",
    "FORMAT_HEADER",
    "GATEWAY_MAC",
    "MAX_LONG_POLL",
    "MAX_STATUS_HEADER",
    "OVERLAY_MTU",
    "READS",
    "STATUS_HEADER",
    "STATUS_REPORT_HEADER",
    "UNDERLAY_MTU",
    "VXLAN_PORT",
    "DesiredState",
    "FabricPort",
    "LocalMac",
    "Neighbour",
    "RemoteMac",
    "SegmentBridge",
    "Slice",
    "SliceInterface",
    "SliceLink",
    "SliceRoute",
    "SwitchState",
    "Sync",
    "UnderlayNextHop",
    "UnderlayRoute",
    "ValidationError",
    "VlanAttachment",
    "parse_desired",
    "serialize",
]

# One MAC for every router slice interface on every leaf: the anycast gateway. Locally administered.
GATEWAY_MAC = "02:70:73:00:00:01"
# The desired-state document's format. Any change to the document's fields bumps it: an agent that gets a
# format it was not built for refuses it (reporting why) and keeps forwarding as last programmed, rather
# than half-understanding it. Agents send theirs in FORMAT_HEADER and the controller serves it, down to
# the oldest format `fabric/formats.py` can still produce (a rolling upgrade: controllers first).
#   1  the switch's state with its revision and etag
#   2  + `sync`: the controller's hints for the agent's sync loop (long-poll and drift-repair periods)
FORMAT = 2
FORMAT_HEADER = "X-Podswitch-State-Format"
# The formats these classes read exactly: format 1 is format 2 without `sync` (which then is None), so an
# agent of this release also follows a controller that has not been upgraded yet.
READS = frozenset({1, 2})
MAX_LONG_POLL = 120.0  # s: the longest a desired-state request may wait at the controller
# An agent's status report may ride on its next desired-state request instead of a PUT of its own: after a
# change, every leaf it touches reports, and a separate request each was half of what a change cost the
# controller. The request carries the status JSON (ASCII) in STATUS_HEADER; a controller that takes reports
# this way says so in STATUS_REPORT_HEADER on every desired-state answer: `stored` (the one carried is
# committed), `failed` (it could not be stored: send it again), `none` (none came). Without that header (an
# older controller) or for a status longer than MAX_STATUS_HEADER bytes, the agent PUTs it as before.
STATUS_HEADER = "X-Podswitch-Status"
STATUS_REPORT_HEADER = "X-Podswitch-Status-Report"
MAX_STATUS_HEADER = 8192  # bytes: well inside what HTTP servers take for all of a request's headers (16 KiB)
VXLAN_PORT = 4789
UNDERLAY_MTU = 9000
OVERLAY_MTU = 1500

_C = TypeVar("_C")


@overload
def contract(cls: type[_C], /) -> type[_C]: ...
@overload
def contract(*, kw_only: bool = False) -> Callable[[type[_C]], type[_C]]: ...


@dataclass_transform(frozen_default=True)
def contract(cls: type[_C] | None = None, /, *, kw_only: bool = False) -> Any:
    """A class of the contract: a dataclass, immutable to the type checker and hashable by value, that
    pydantic reads strictly, refusing unknown fields. (Not frozen at run time: see the module docstring.)"""

    def make(cls: type[_C]) -> type[_C]:
        cls.__pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[attr-defined]
        return dataclasses.dataclass(unsafe_hash=True, kw_only=kw_only)(cls)

    return make if cls is None else make(cls)


@contract
class FabricPort:
    """A routed point-to-point underlay link (leaf-spine), /31 on each end."""

    ifname: str
    address: str  # our end, with prefix: 10.254.0.1/31
    peer: str  # the other end's address: 10.254.0.0
    mtu: int = UNDERLAY_MTU


@contract
class UnderlayNextHop:
    via: str
    dev: str


@contract
class UnderlayRoute:
    prefix: str
    nexthops: tuple[UnderlayNextHop, ...]  # several = ECMP


@contract
class VlanAttachment:
    """(leaf port, VLAN) in a segment's bridge. The kernel has no 802.1Q devices, so a veth pair stands
    in for the sub-interface: `subif` is the bridge member; `shim` is its peer, where a tc BPF program
    pushes the tag and sends the frame out of `port`; on `port`'s ingress a BPF program pops tag `vlan`
    and sends the frame into `shim`."""

    port: str
    vlan: int
    vni: int
    subif: str
    shim: str


@contract
class RemoteMac:
    mac: str
    vtep: str  # loopback of the leaf behind which the MAC lives


@contract
class SegmentBridge:
    """A segment (or the system transit network) instantiated on this leaf: bridge + VXLAN device.

    `flood` lists every VTEP that has the segment and `remote_macs` every known MAC with its VTEP. The
    same object is shared by all leaves (one copy, serialized once), so the agent skips the entries that
    name its own loopback: those MACs are local and pinned by `LocalMac`. A MAC that is in this switch's
    `local_macs` for the same bridge is local too, whatever VTEP `remote_macs` names (an interface-group on
    two leaves is reached through the first leaf's VTEP, but each of the two leaves delivers it locally)."""

    vni: int
    tenant: str
    segment: str
    bridge: str
    vxlan: str
    flood: tuple[str, ...] = ()  # VTEPs that get broadcast/unknown/multicast
    remote_macs: tuple[RemoteMac, ...] = ()


@contract
class LocalMac:
    """An endpoint behind one of our ports, pinned so the bridge never learns it elsewhere."""

    mac: str
    bridge: str
    dev: str


@contract
class Neighbour:
    ip: str
    mac: str
    dev: str


@contract
class SliceRoute:
    prefix: str
    via: tuple[str, ...] = ()  # gateways (several = ECMP); empty with `kind` unreachable
    dev: str | None = None
    kind: Literal["unicast", "unreachable"] = "unicast"  # unreachable: a hard stop


@contract
class SliceInterface:
    """A router slice's leg into a segment bridge: `ifname` in the slice (anycast gateway), `peer` in
    the switch namespace as a member of `bridge`."""

    ifname: str
    peer: str
    bridge: str
    mac: str
    addresses: tuple[str, ...] = ()


@contract
class SliceLink:
    """A veth between two slices on this switch (tenant <-> system)."""

    ifname: str
    address: str
    peer_slice: str
    peer_ifname: str
    peer_address: str


@contract
class Slice:
    """One tenant's share of its logical router on this leaf (or the system tenant's)."""

    name: str  # suffix of the slice namespace, e.g. t3 or sys
    tenant: str
    interfaces: tuple[SliceInterface, ...] = ()
    links: tuple[SliceLink, ...] = ()  # links this slice creates (system side)
    neighbours: tuple[Neighbour, ...] = ()
    routes: tuple[SliceRoute, ...] = ()
    nftables: str | None = None  # ruleset of table inet podswitch, or none


@contract
class SwitchState:
    """Fields in the order documents have always been served: bridges and slices last, the pieces shared
    between leaves, whose cached JSON the compiler splices into the rest of the document."""

    switch: str
    role: str
    loopback: str | None = None  # VTEP address (/32 on lo)
    fabric_ports: tuple[FabricPort, ...] = ()
    underlay_routes: tuple[UnderlayRoute, ...] = ()
    attachments: tuple[VlanAttachment, ...] = ()
    local_macs: tuple[LocalMac, ...] = ()
    bridges: tuple[SegmentBridge, ...] = ()
    slices: tuple[Slice, ...] = ()


@contract
class Sync:
    """How the controller would have its agents sync (format 2): operators tune every agent in one place,
    and a controller can stretch its agents' periods. An agent's own command-line flags win over these.
    Floats, as served (an int would serialize without its `.0`, and the document would not round-trip)."""

    long_poll: Annotated[float, Field(ge=0, le=MAX_LONG_POLL)] = 30.0  # s a request waits for a change; 0: poll
    resync: Annotated[float, Field(gt=0)] = 30.0  # s between the agent's local drift repairs


@contract(kw_only=True)
class DesiredState:
    """What `GET /v1/switches/{name}/desired-state` returns."""

    format: Annotated[int, Field(ge=1)] = FORMAT  # see FORMAT
    revision: int  # intent revision this state was compiled from
    etag: str  # hash of `state`; changes only when this switch's state changes (the same in every format)
    sync: Sync | None = None  # format 2 on; None in a format-1 document
    state: SwitchState


_DESIRED = TypeAdapter(DesiredState)


def parse_desired(raw: bytes | str) -> DesiredState:
    """The served JSON document as the contract's objects. Raises `ValidationError` (pydantic's, also
    exported here) when it is not valid JSON, has a field of the wrong type (strict: no "300" for 300)
    or one this contract does not know, e.g. a newer format's."""
    return _DESIRED.validate_json(raw)


def serialize(obj: Any) -> bytes:
    """The JSON of a contract object, as served (compact, fields in declaration order). Deterministic:
    equal objects give equal bytes."""
    return orjson.dumps(obj)
