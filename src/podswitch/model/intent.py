"""The whole intent as one immutable tree: topology plus tenants, each with its router and segments.

Every change produces a new Intent that shares all untouched subtrees with the old one (copy on write), so
readers hold a consistent snapshot without locks and a diff after a small change costs only its path.
Objects are addressed by `Key`; `model.ops` changes an intent, `model.validate` checks one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from pydantic import Field, PrivateAttr

from .router import LogicalRouter
from .sharded import Sharded
from .tenant import SYSTEM, Endpoint, Member, Segment, Tenant
from .topology import InterfaceGroup, Link, Switch
from .types import Model


class Kind(StrEnum):
    """Object kinds, in the order a full intent is built (parents before children)."""

    SWITCH = "switch"
    INTERFACE_GROUP = "interface-group"
    LINK = "link"
    TENANT = "tenant"
    SEGMENT = "segment"
    LOGICAL_ROUTER = "logical-router"
    MEMBER = "member"
    ENDPOINT = "endpoint"


MODEL_OF: dict[Kind, type[Model]] = {
    Kind.SWITCH: Switch,
    Kind.INTERFACE_GROUP: InterfaceGroup,
    Kind.LINK: Link,
    Kind.TENANT: Tenant,
    Kind.SEGMENT: Segment,
    Kind.LOGICAL_ROUTER: LogicalRouter,
    Kind.MEMBER: Member,
    Kind.ENDPOINT: Endpoint,
}


class Key(NamedTuple):
    """Address of one object. Topology objects have no tenant; `name` is empty for a logical-router.
    A named tuple: at 100,000 objects, building, hashing and ordering keys in C matters."""

    kind: Kind
    tenant: str = ""
    segment: str = ""
    name: str = ""

    def __str__(self) -> str:
        parts = []
        if self.tenant:
            parts.append(f"tenant {self.tenant}")
        if self.segment:
            parts.append(f"segment {self.segment}")
        if self.kind == Kind.LOGICAL_ROUTER:
            parts.append("logical-router")
        elif self.kind == Kind.MEMBER:
            group, _, vlan = self.name.rpartition(":")
            parts.append(f"member interface-group {group} vlan {vlan}")
        elif self.kind not in (Kind.TENANT, Kind.SEGMENT):
            parts.append(f"{self.kind.value} {self.name}")
        return " ".join(parts)

    @property
    def parent(self) -> Key | None:
        if self.kind in (Kind.MEMBER, Kind.ENDPOINT):
            return Key(Kind.SEGMENT, self.tenant, self.segment)
        if self.kind in (Kind.SEGMENT, Kind.LOGICAL_ROUTER):
            return Key(Kind.TENANT, self.tenant)
        return None

    @staticmethod
    def of(kind: Kind, obj: Any, tenant: str = "", segment: str = "") -> Key:
        """The key an object has when stored under tenant/segment."""
        if kind == Kind.LOGICAL_ROUTER:
            return Key(kind, tenant)
        if kind == Kind.TENANT:
            return Key(kind, obj.name)
        if kind == Kind.SEGMENT:
            return Key(kind, tenant, obj.name)
        if kind == Kind.MEMBER:
            return Key(kind, tenant, segment, obj.key)
        if kind == Kind.ENDPOINT:
            return Key(kind, tenant, segment, obj.id)
        if kind == Kind.LINK:
            return Key(kind, name=obj.key)
        return Key(kind, name=obj.name)


class SegmentNode(Model):
    segment: Segment
    members: dict[str, Member] = Field(default_factory=dict)
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)


class TenantNode(Model):
    tenant: Tenant
    router: LogicalRouter | None = None
    segments: dict[str, SegmentNode] = Field(default_factory=dict)

    def has_configuration(self) -> bool:
        t = self.tenant
        return bool(t.id or t.origination or self.router is not None or self.segments)


class Topology(Model):
    switches: dict[str, Switch] = Field(default_factory=dict)
    links: dict[str, Link] = Field(default_factory=dict)
    interface_groups: dict[str, InterfaceGroup] = Field(default_factory=dict)


Claim = tuple[str, int]  # (interface-group, vlan)
Location = tuple[str, str]  # (tenant, segment)


class Intent(Model):
    """Everything the operator (or Neutron) asked for. The `system` tenant always exists."""

    topology: Topology = Field(default_factory=Topology)
    tenants: dict[str, TenantNode] = Field(default_factory=dict)

    # Indexes derived from the tree, built on first use and carried forward by model.ops.
    _claims: Sharded[Claim, dict[Location, int]] | None = PrivateAttr(default=None)
    _endpoint_at: Sharded[str, Location] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        if SYSTEM not in self.tenants:
            self.tenants[SYSTEM] = TenantNode(tenant=Tenant(name=SYSTEM))

    def __eq__(self, other: object) -> bool:
        # The derived indexes are caches: two intents with the same objects are equal whether or not
        # either has built them.
        if not isinstance(other, Intent):
            return NotImplemented
        return self.topology == other.topology and self.tenants == other.tenants

    __hash__ = None  # type: ignore[assignment]

    # ---- lookups -------------------------------------------------------------------------------

    def get(self, key: Key) -> Model | None:
        """The object at key, or None."""
        kind = key.kind
        if kind == Kind.SWITCH:
            return self.topology.switches.get(key.name)
        if kind == Kind.LINK:
            return self.topology.links.get(key.name)
        if kind == Kind.INTERFACE_GROUP:
            return self.topology.interface_groups.get(key.name)
        tnode = self.tenants.get(key.tenant)
        if tnode is None:
            return None
        if kind == Kind.TENANT:
            return tnode.tenant
        if kind == Kind.LOGICAL_ROUTER:
            return tnode.router
        snode = tnode.segments.get(key.segment)
        return None if snode is None else in_segment(snode, key)

    def objects(self) -> Iterator[tuple[Key, Model]]:
        """Every object with its key, parents before children (the order a store loads them back)."""
        topo = self.topology
        for name, sw in topo.switches.items():
            yield Key(Kind.SWITCH, name=name), sw
        for name, group in topo.interface_groups.items():
            yield Key(Kind.INTERFACE_GROUP, name=name), group
        for name, link in topo.links.items():
            yield Key(Kind.LINK, name=name), link
        for tname, tnode in self.tenants.items():
            yield from tenant_objects(tname, tnode)

    def originated(self, origination: str) -> Iterator[tuple[Key, Model]]:
        """Every object of one origination (what one orchestrator wrote), parents first. A logical-router
        has no origination of its own: it belongs to its tenant's."""
        for tname, tnode in self.tenants.items():
            if tnode.tenant.origination == origination:
                yield Key(Kind.TENANT, tname), tnode.tenant
                if tnode.router is not None:
                    yield Key(Kind.LOGICAL_ROUTER, tname), tnode.router
            for sname, snode in tnode.segments.items():
                for key, obj in segment_objects(tname, sname, snode):
                    if getattr(obj, "origination", None) == origination:
                        yield key, obj

    def claims(self) -> Mapping[Claim, dict[Location, int]]:
        """Which segments claim each (interface-group, VLAN), through members or endpoint attachments."""
        if self._claims is None:
            claims: dict[Claim, dict[Location, int]] = {}
            for tname, tnode in self.tenants.items():
                for sname, snode in tnode.segments.items():
                    for claim in segment_claims(snode):
                        where = claims.setdefault(claim, {})
                        where[(tname, sname)] = where.get((tname, sname), 0) + 1
            self._claims = Sharded(claims.items())
        return self._claims

    def endpoint_locations(self) -> Mapping[str, Location]:
        """Endpoint id -> (tenant, segment). Endpoint ids are unique in the whole fabric."""
        if self._endpoint_at is None:
            self._endpoint_at = Sharded(
                (eid, (tname, sname))
                for tname, tnode in self.tenants.items()
                for sname, snode in tnode.segments.items()
                for eid in snode.endpoints
            )
        return self._endpoint_at

    def find_endpoint(self, endpoint_id: str) -> tuple[str, str, Endpoint] | None:
        where = self.endpoint_locations().get(endpoint_id)
        if where is None:
            return None
        endpoint = self.tenants[where[0]].segments[where[1]].endpoints[endpoint_id]
        return where[0], where[1], endpoint

    def count(self) -> dict[str, int]:
        """Objects by kind. Cheap (every revision's metrics ask): endpoints are counted by their index, which
        edits carry forward, not by walking 10,000 segments."""
        segments = sum(len(t.segments) for t in self.tenants.values())
        endpoints = len(self.endpoint_locations())
        return {
            "switches": len(self.topology.switches),
            "links": len(self.topology.links),
            "interface_groups": len(self.topology.interface_groups),
            "tenants": len(self.tenants),
            "segments": segments,
            "endpoints": endpoints,
        }


class SegmentParts(Protocol):
    """What a segment is made of (a SegmentNode, or one being edited)."""

    @property
    def segment(self) -> Segment: ...

    @property
    def members(self) -> dict[str, Member]: ...

    @property
    def endpoints(self) -> dict[str, Endpoint]: ...


def in_segment(parts: SegmentParts, key: Key) -> Model | None:
    """The segment itself, or its member or endpoint at `key`."""
    if key.kind == Kind.SEGMENT:
        return parts.segment
    if key.kind == Kind.MEMBER:
        return parts.members.get(key.name)
    return parts.endpoints.get(key.name)


def tenant_objects(tname: str, tnode: TenantNode) -> Iterator[tuple[Key, Model]]:
    yield Key(Kind.TENANT, tname), tnode.tenant
    for sname, snode in tnode.segments.items():
        yield from segment_objects(tname, sname, snode)
    if tnode.router is not None:
        yield Key(Kind.LOGICAL_ROUTER, tname), tnode.router


def segment_objects(tname: str, sname: str, snode: SegmentNode) -> Iterator[tuple[Key, Model]]:
    yield Key(Kind.SEGMENT, tname, sname), snode.segment
    for mkey, member in snode.members.items():
        yield Key(Kind.MEMBER, tname, sname, mkey), member
    for eid, endpoint in snode.endpoints.items():
        yield Key(Kind.ENDPOINT, tname, sname, eid), endpoint


def segment_claims(snode: SegmentNode) -> Iterator[Claim]:
    for member in snode.members.values():
        yield (member.interface_group, member.vlan)
    for endpoint in snode.endpoints.values():
        if endpoint.attachment_point is not None:
            yield (endpoint.attachment_point.interface_group, endpoint.attachment_point.vlan)
