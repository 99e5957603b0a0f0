"""Pure operations on an Intent: put or delete one object, build from objects, and diff two intents.

Each returns a new Intent sharing every untouched subtree with the old one. They check only what makes
the tree itself well formed (the parent exists, the key matches the object, ids are unique); the rules
between objects live in `model.validate`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from .errors import IntentError, NotFound, Problem
from .intent import (
    Claim,
    Intent,
    Key,
    Kind,
    Location,
    SegmentNode,
    TenantNode,
    Topology,
    in_segment,
    segment_objects,
    tenant_objects,
)
from .router import LogicalRouter
from .sharded import ShardedDraft
from .tenant import SYSTEM, Endpoint, Member, Segment, Tenant
from .topology import InterfaceGroup, Link, Switch
from .types import Model


@dataclass(frozen=True, slots=True)
class Change:
    """One object added (before is None), removed (after is None) or changed."""

    key: Key
    before: Model | None
    after: Model | None

    @property
    def operation(self) -> str:
        if self.before is None:
            return "create"
        if self.after is None:
            return "delete"
        return "update"


@dataclass(frozen=True, slots=True)
class Put:
    """Create or replace the object at `key` (create only: refuse one that exists)."""

    key: Key
    obj: Model
    create_only: bool = False


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete the object at `key` with everything below it; `missing_ok`: nothing to do if it is gone."""

    key: Key
    missing_ok: bool = False


# One operation of a transaction (the controller applies a list of them as one revision).
Operation = Put | Delete


def _check_key(key: Key, obj: Model) -> None:
    expected = Key.of(key.kind, obj, key.tenant, key.segment)
    if expected != key:
        raise IntentError(Problem(str(key), "name", f"the object's own name says {expected}, not {key}"))


_TOPOLOGY_FIELD = {Kind.SWITCH: "switches", Kind.LINK: "links", Kind.INTERFACE_GROUP: "interface_groups"}


class _OpenSegment:
    """A segment being edited: its node's parts, the member/endpoint dicts copied on first change."""

    __slots__ = ("endpoints", "endpoints_copied", "members", "members_copied", "segment")

    def __init__(self, node: SegmentNode) -> None:
        self.segment = node.segment
        self.members = node.members
        self.endpoints = node.endpoints
        self.members_copied = False
        self.endpoints_copied = False

    def own_members(self) -> dict[str, Member]:
        if not self.members_copied:
            self.members = dict(self.members)
            self.members_copied = True
        return self.members

    def own_endpoints(self) -> dict[str, Endpoint]:
        if not self.endpoints_copied:
            self.endpoints = dict(self.endpoints)
            self.endpoints_copied = True
        return self.endpoints

    def node(self) -> SegmentNode:
        return SegmentNode.model_construct(segment=self.segment, members=self.members, endpoints=self.endpoints)


class _OpenTenant:
    """A tenant being edited: its parts, the segments dict copied on first change."""

    __slots__ = ("open", "router", "segments", "segments_copied", "tenant")

    def __init__(self, node: TenantNode) -> None:
        self.tenant = node.tenant
        self.router = node.router
        self.segments = node.segments
        self.segments_copied = False
        self.open: dict[str, _OpenSegment] = {}

    def own_segments(self) -> dict[str, SegmentNode]:
        if not self.segments_copied:
            self.segments = dict(self.segments)
            self.segments_copied = True
        return self.segments

    def segment_node(self, name: str) -> SegmentNode | None:
        opened = self.open.get(name)
        return opened.node() if opened is not None else self.segments.get(name)

    def node(self) -> TenantNode:
        if self.open:
            segments = self.own_segments()
            for name, opened in self.open.items():
                segments[name] = opened.node()
        return TenantNode.model_construct(tenant=self.tenant, router=self.router, segments=self.segments)


class Edit:
    """Puts and deletes on an intent, producing a new intent that shares every untouched subtree with it.

    Copy on write per *edit*, not per change: each container on a touched path (the tenants dict, one
    tenant's segments, one segment's endpoints, the endpoint index ...) is copied once however many
    changes the edit makes below it. A transaction of N objects, a catch-up replaying N changes or a
    restore undoing them costs O(N) rather than N copies of 100,000-entry dicts. `get` sees the edit's
    own changes, so later operations can build on earlier ones. The base intent is never modified."""

    def __init__(self, base: Intent) -> None:
        self.base = base
        self._topology: dict[Kind, dict[str, Model]] = {}
        self._tenants: dict[str, TenantNode] | None = None  # copied on the first tenant-level change
        self._open: dict[str, _OpenTenant] = {}
        # The indexes, carried forward when the base has them (each copied once, on first change).
        self._claims = None if base._claims is None else ShardedDraft(base._claims)
        self._claim_holders_copied: set[Claim] = set()
        # Endpoint ids are unique fabric-wide, so every endpoint put needs the index: build it on the base
        # (cached there; the base is immutable) rather than half-way through the edit.
        base.endpoint_locations()
        assert base._endpoint_at is not None
        self._endpoint_at = ShardedDraft(base._endpoint_at)

    # ---- reading ---------------------------------------------------------------------------------

    def _tenant_map(self) -> dict[str, TenantNode]:
        return self._tenants if self._tenants is not None else self.base.tenants

    def has_tenant(self, name: str) -> bool:
        return name in self._open or name in self._tenant_map()

    def get(self, key: Key) -> Model | None:
        """The object at key as this edit has it so far, or None."""
        kind = key.kind
        if kind in _TOPOLOGY_FIELD:
            items = self._topology.get(kind)
            if items is None:
                items = getattr(self.base.topology, _TOPOLOGY_FIELD[kind])
            return items.get(key.name)
        opened = self._open.get(key.tenant)
        if opened is None:
            tnode = self._tenant_map().get(key.tenant)
            if tnode is None:
                return None
            if kind == Kind.TENANT:
                return tnode.tenant
            if kind == Kind.LOGICAL_ROUTER:
                return tnode.router
            snode = tnode.segments.get(key.segment)
        else:
            if kind == Kind.TENANT:
                return opened.tenant
            if kind == Kind.LOGICAL_ROUTER:
                return opened.router
            oseg = opened.open.get(key.segment)
            if oseg is not None:
                return in_segment(oseg, key)
            snode = opened.segments.get(key.segment)
        return None if snode is None else in_segment(snode, key)

    def endpoint_location(self, endpoint_id: str) -> Location | None:
        return self._endpoint_at.get(endpoint_id)

    # ---- opening subtrees ------------------------------------------------------------------------

    def _own_tenants(self) -> dict[str, TenantNode]:
        if self._tenants is None:
            self._tenants = dict(self.base.tenants)
        return self._tenants

    def _open_tenant(self, name: str) -> _OpenTenant:
        opened = self._open.get(name)
        if opened is None:
            tnode = self._tenant_map().get(name)
            if tnode is None:
                raise NotFound(f"tenant {name}")
            self._own_tenants()
            opened = self._open[name] = _OpenTenant(tnode)
        return opened

    def _open_segment(self, key: Key) -> _OpenSegment:
        tenant = self._open_tenant(key.tenant)
        opened = tenant.open.get(key.segment)
        if opened is None:
            snode = tenant.segments.get(key.segment)
            if snode is None:
                raise NotFound(f"tenant {key.tenant} segment {key.segment}")
            opened = tenant.open[key.segment] = _OpenSegment(snode)
        return opened

    # ---- indexes ---------------------------------------------------------------------------------

    def _index_endpoint(self, endpoint_id: str, where: Location | None) -> None:
        if where is None:
            self._endpoint_at.discard(endpoint_id)
        else:
            self._endpoint_at[endpoint_id] = where

    def _move_claim(self, where: Location, old: Claim | None, new: Claim | None) -> None:
        if self._claims is None or old == new:
            return
        claims = self._claims
        if old is not None:
            holders = self._own_holders(old)
            count = holders.get(where, 0) - 1
            if count > 0:
                holders[where] = count
            else:
                holders.pop(where, None)
            if not holders:
                claims.discard(old)
        if new is not None:
            holders = self._own_holders(new)
            holders[where] = holders.get(where, 0) + 1

    def _own_holders(self, claim: Claim) -> dict[Location, int]:
        assert self._claims is not None
        holders = self._claims.get(claim)
        if holders is None or claim not in self._claim_holders_copied:
            holders = self._claims[claim] = dict(holders or {})
            self._claim_holders_copied.add(claim)
        return holders

    def _forget_segment(self, where: Location, node: SegmentNode) -> None:
        for member in node.members.values():
            self._move_claim(where, _claim_of(member), None)
        for eid, endpoint in node.endpoints.items():
            self._move_claim(where, _claim_of(endpoint), None)
            self._index_endpoint(eid, None)

    # ---- changing --------------------------------------------------------------------------------

    def put(self, key: Key, obj: Model) -> Edit:
        """Create or replace the object at key. Children of a replaced tenant/segment are kept."""
        _check_key(key, obj)
        kind = key.kind
        if self.get(key) == obj:
            return self  # exactly what is there: share it, copy nothing
        if kind in _TOPOLOGY_FIELD:
            items = self._topology.get(kind)
            if items is None:
                items = self._topology[kind] = dict(getattr(self.base.topology, _TOPOLOGY_FIELD[kind]))
            items[key.name] = obj
            return self
        if kind == Kind.TENANT:
            assert isinstance(obj, Tenant)
            if self.has_tenant(key.tenant):
                self._open_tenant(key.tenant).tenant = obj
            else:
                self._own_tenants()[key.tenant] = TenantNode(tenant=obj)
            return self
        tenant = self._open_tenant(key.tenant)
        if kind == Kind.LOGICAL_ROUTER:
            assert isinstance(obj, LogicalRouter)
            tenant.router = obj
            return self
        if kind == Kind.SEGMENT:
            assert isinstance(obj, Segment)
            opened = tenant.open.get(key.segment)
            if opened is not None:
                opened.segment = obj
            elif key.segment in tenant.segments:
                self._open_segment(key).segment = obj
            else:
                tenant.own_segments()[key.segment] = SegmentNode(segment=obj)
            return self
        segment = self._open_segment(key)
        where = (key.tenant, key.segment)
        if kind == Kind.MEMBER:
            assert isinstance(obj, Member)
            old_member = segment.members.get(key.name)
            segment.own_members()[key.name] = obj
            self._move_claim(where, None if old_member is None else _claim_of(old_member), _claim_of(obj))
            return self
        assert isinstance(obj, Endpoint)
        located = self.endpoint_location(key.name)
        if located is not None and located != where:
            raise IntentError(
                Problem(
                    f"endpoint {key.name}",
                    "id",
                    f"is already used in tenant {located[0]} segment {located[1]}",
                    kind="conflict",
                )
            )
        old_ep = segment.endpoints.get(key.name)
        segment.own_endpoints()[key.name] = obj
        self._move_claim(where, None if old_ep is None else _claim_of(old_ep), _claim_of(obj))
        if old_ep is None:
            self._index_endpoint(key.name, where)
        return self

    def delete(self, key: Key) -> Edit:
        """Remove the object at key with everything below it (a tenant's segments, a segment's endpoints).
        Raises NotFound if it is not there. Whether others still refer to it is `validate.referrers`' job."""
        if self.get(key) is None:
            raise NotFound(str(key))
        kind = key.kind
        if kind in _TOPOLOGY_FIELD:
            items = self._topology.get(kind)
            if items is None:
                items = self._topology[kind] = dict(getattr(self.base.topology, _TOPOLOGY_FIELD[kind]))
            del items[key.name]
            return self
        if kind == Kind.TENANT:
            tenant = self._open_tenant(key.tenant)
            for sname in list(tenant.segments.keys() | tenant.open.keys()):
                node = tenant.segment_node(sname)
                if node is not None:
                    self._forget_segment((key.tenant, sname), node)
            del self._open[key.tenant]
            tenants = self._own_tenants()
            if key.tenant == SYSTEM:
                # The system tenant always exists; deleting it clears its configuration.
                tenants[SYSTEM] = TenantNode(tenant=Tenant(name=SYSTEM))
            else:
                del tenants[key.tenant]
            return self
        tenant = self._open_tenant(key.tenant)
        if kind == Kind.LOGICAL_ROUTER:
            tenant.router = None
            return self
        where = (key.tenant, key.segment)
        if kind == Kind.SEGMENT:
            node = tenant.segment_node(key.segment)
            assert node is not None
            self._forget_segment(where, node)
            tenant.open.pop(key.segment, None)
            del tenant.own_segments()[key.segment]
            return self
        segment = self._open_segment(key)
        if kind == Kind.MEMBER:
            self._move_claim(where, _claim_of(segment.own_members().pop(key.name)), None)
            return self
        self._move_claim(where, _claim_of(segment.own_endpoints().pop(key.name)), None)
        self._index_endpoint(key.name, None)
        return self

    def apply(self, changes: Iterable[Change]) -> Edit:
        """Replay changes (e.g. history rows written by another controller): deletes of what is already
        gone are skipped."""
        for change in changes:
            if change.after is None:
                if self.get(change.key) is not None:
                    self.delete(change.key)
            else:
                self.put(change.key, change.after)
        return self

    def finish(self) -> Intent:
        """The edited intent. The edit must not be used afterwards."""
        topology = self.base.topology
        if self._topology:
            fields = {
                field: self._topology.get(kind, getattr(topology, field)) for kind, field in _TOPOLOGY_FIELD.items()
            }
            topology = Topology.model_construct(**fields)
        tenants = self._tenants
        if tenants is None:
            tenants = self.base.tenants
        else:
            for name, opened in self._open.items():
                tenants[name] = opened.node()
        if topology is self.base.topology and tenants is self.base.tenants:
            return self.base
        new = Intent.model_construct(topology=topology, tenants=tenants)
        new._claims = None if self._claims is None else self._claims.finish()
        new._endpoint_at = self._endpoint_at.finish()
        return new


def put(intent: Intent, key: Key, obj: Model) -> Intent:
    """Create or replace the object at key. Children of a replaced tenant/segment are kept."""
    return Edit(intent).put(key, obj).finish()


def delete(intent: Intent, key: Key) -> Intent:
    """Remove the object at key with everything below it (a tenant's segments, a segment's endpoints).
    Raises NotFound if it is not there. Whether others still refer to it is `validate.referrers`' job."""
    return Edit(intent).delete(key).finish()


def _claim_of(obj: Member | Endpoint) -> Claim | None:
    if isinstance(obj, Member):
        return (obj.interface_group, obj.vlan)
    ap = obj.attachment_point
    return None if ap is None else (ap.interface_group, ap.vlan)


def build(objects: Iterable[tuple[Key, Model]]) -> Intent:
    """An intent from (key, object) pairs in any order, e.g. rows loaded from the store. Children whose
    parent is missing raise NotFound."""
    ordered = sorted(objects, key=lambda ko: _BUILD_ORDER[ko[0].kind])
    switches: dict[str, Model] = {}
    links: dict[str, Model] = {}
    groups: dict[str, Model] = {}
    tenants: dict[str, Model] = {}
    routers: dict[str, Model] = {}
    segments: dict[str, dict[str, Model]] = {}
    members: dict[Location, dict[str, Member]] = {}
    endpoints: dict[Location, dict[str, Endpoint]] = {}
    for key, obj in ordered:
        kind = key.kind
        if kind == Kind.SWITCH:
            switches[key.name] = obj
        elif kind == Kind.LINK:
            links[key.name] = obj
        elif kind == Kind.INTERFACE_GROUP:
            groups[key.name] = obj
        elif kind == Kind.TENANT:
            tenants[key.tenant] = obj
            segments[key.tenant] = {}
        elif key.tenant not in tenants:
            raise NotFound(f"tenant {key.tenant} (parent of {key})")
        elif kind == Kind.LOGICAL_ROUTER:
            routers[key.tenant] = obj
        elif kind == Kind.SEGMENT:
            segments[key.tenant][key.segment] = obj
        elif key.segment not in segments[key.tenant]:
            raise NotFound(f"tenant {key.tenant} segment {key.segment} (parent of {key})")
        elif kind == Kind.MEMBER:
            members.setdefault((key.tenant, key.segment), {})[key.name] = obj  # type: ignore[assignment]
        else:
            endpoints.setdefault((key.tenant, key.segment), {})[key.name] = obj  # type: ignore[assignment]
    tree: dict[str, TenantNode] = {}
    for tname, tenant in tenants.items():
        # The kinds were checked by the key each object came with (the store keeps them together).
        segs = {
            sname: SegmentNode.model_construct(
                segment=cast(Segment, seg),
                members=members.get((tname, sname), {}),
                endpoints=endpoints.get((tname, sname), {}),
            )
            for sname, seg in segments[tname].items()
        }
        router = cast(LogicalRouter | None, routers.get(tname))
        tree[tname] = TenantNode.model_construct(tenant=cast(Tenant, tenant), router=router, segments=segs)
    topo = Topology.model_construct(
        switches=cast(dict[str, Switch], switches),
        links=cast(dict[str, Link], links),
        interface_groups=cast(dict[str, InterfaceGroup], groups),
    )
    return Intent.model_construct(topology=topo, tenants=tree)


_BUILD_ORDER = {
    Kind.SWITCH: 0,
    Kind.INTERFACE_GROUP: 0,
    Kind.LINK: 0,
    Kind.TENANT: 1,
    Kind.SEGMENT: 2,
    Kind.LOGICAL_ROUTER: 2,
    Kind.MEMBER: 3,
    Kind.ENDPOINT: 3,
}


def diff(old: Intent, new: Intent) -> list[Change]:
    """Object-level changes turning old into new: deletes first (children before parents), then creates
    and updates (parents before children).
    Shared subtrees (the usual case after a small change) are skipped without looking inside."""
    changes: list[Change] = []
    ot, nt = old.topology, new.topology
    if ot is not nt:
        for kind, field in (
            (Kind.SWITCH, "switches"),
            (Kind.INTERFACE_GROUP, "interface_groups"),
            (Kind.LINK, "links"),
        ):
            _diff_map(changes, getattr(ot, field), getattr(nt, field), _keys(kind))
    for tname in sorted(old.tenants.keys() | new.tenants.keys()):
        a, b = old.tenants.get(tname), new.tenants.get(tname)
        if a is b:
            continue
        if a is None or b is None:
            gone = b is None
            for key, obj in tenant_objects(tname, a if b is None else b):  # type: ignore[arg-type]
                changes.append(Change(key, obj, None) if gone else Change(key, None, obj))
            continue
        if a.tenant != b.tenant:
            changes.append(Change(Key(Kind.TENANT, tname), a.tenant, b.tenant))
        if a.router != b.router:
            changes.append(Change(Key(Kind.LOGICAL_ROUTER, tname), a.router, b.router))
        for sname in sorted(a.segments.keys() | b.segments.keys()):
            sa, sb = a.segments.get(sname), b.segments.get(sname)
            if sa is sb:
                continue
            if sa is None or sb is None:
                lost = sb is None
                for key, obj in segment_objects(tname, sname, sa if sb is None else sb):  # type: ignore[arg-type]
                    changes.append(Change(key, obj, None) if lost else Change(key, None, obj))
                continue
            if sa.segment != sb.segment:
                changes.append(Change(Key(Kind.SEGMENT, tname, sname), sa.segment, sb.segment))
            _diff_map(changes, sa.members, sb.members, _keys(Kind.MEMBER, tname, sname))
            _diff_map(changes, sa.endpoints, sb.endpoints, _keys(Kind.ENDPOINT, tname, sname))
    changes.sort(key=_change_order)
    return changes


def _keys(kind: Kind, tenant: str = "", segment: str = "") -> Callable[[str], Key]:
    return lambda name: Key(kind, tenant, segment, name)


def _diff_map(
    changes: list[Change], a: Mapping[str, Model], b: Mapping[str, Model], key_of: Callable[[str], Key]
) -> None:
    if a is b:
        return
    for name in sorted(a.keys() | b.keys()):
        x, y = a.get(name), b.get(name)
        if x != y:
            changes.append(Change(key_of(name), x, y))


def _change_order(change: Change) -> tuple[int, int]:
    # Deletes first, children before parents, so that an id freed in one place can be taken in another
    # (an endpoint moving to another segment); then creates and updates, parents before children. The
    # sort is stable and the changes were produced in key order, so the order is deterministic.
    rank = _BUILD_ORDER[change.key.kind]
    return (0, -rank) if change.after is None else (1, rank)


def apply_changes(intent: Intent, changes: Iterable[Change]) -> Intent:
    """Replay changes (e.g. history rows written by another controller) on an intent, in one edit."""
    return Edit(intent).apply(changes).finish()
