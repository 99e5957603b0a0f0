"""Pure operations on an Intent: put or delete one object, build from objects, and diff two intents.

Each returns a new Intent sharing every untouched subtree with the old one. They check only what makes
the tree itself well formed (the parent exists, the key matches the object, ids are unique); the rules
between objects live in `model.validate`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
)
from .tenant import SYSTEM, Endpoint, Member, Tenant
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


def _with(
    intent: Intent,
    *,
    topology: Topology | None = None,
    tenants: dict[str, TenantNode] | None = None,
    claims: dict | None = None,
    endpoint_at: dict | None = None,
) -> Intent:
    new = Intent.model_construct(
        topology=topology if topology is not None else intent.topology,
        tenants=tenants if tenants is not None else intent.tenants,
    )
    new._claims = claims
    new._endpoint_at = endpoint_at
    return new


def _check_key(key: Key, obj: Model) -> None:
    expected = Key.of(key.kind, obj, key.tenant, key.segment)
    if expected != key:
        raise IntentError(Problem(str(key), "name", f"the object's own name says {expected}, not {key}"))


def put(intent: Intent, key: Key, obj: Model) -> Intent:
    """Create or replace the object at key. Children of a replaced tenant/segment are kept."""
    _check_key(key, obj)
    kind = key.kind
    if kind in (Kind.SWITCH, Kind.LINK, Kind.INTERFACE_GROUP):
        topo = intent.topology
        field = {Kind.SWITCH: "switches", Kind.LINK: "links", Kind.INTERFACE_GROUP: "interface_groups"}[kind]
        items = dict(getattr(topo, field))
        items[key.name] = obj
        new_topo = topo.model_copy(update={field: items})
        return _with(intent, topology=new_topo, claims=intent._claims, endpoint_at=intent._endpoint_at)

    tenants = dict(intent.tenants)
    if kind == Kind.TENANT:
        old = tenants.get(key.tenant)
        tenants[key.tenant] = (
            old.model_copy(update={"tenant": obj}) if old else TenantNode(tenant=obj)  # type: ignore[arg-type]
        )
        return _with(intent, tenants=tenants, claims=intent._claims, endpoint_at=intent._endpoint_at)

    tnode = tenants.get(key.tenant)
    if tnode is None:
        raise NotFound(f"tenant {key.tenant}")
    if kind == Kind.LOGICAL_ROUTER:
        tenants[key.tenant] = tnode.model_copy(update={"router": obj})
        return _with(intent, tenants=tenants, claims=intent._claims, endpoint_at=intent._endpoint_at)

    segments = dict(tnode.segments)
    if kind == Kind.SEGMENT:
        old_seg = segments.get(key.segment)
        segments[key.segment] = (
            old_seg.model_copy(update={"segment": obj}) if old_seg else SegmentNode(segment=obj)  # type: ignore[arg-type]
        )
        tenants[key.tenant] = tnode.model_copy(update={"segments": segments})
        return _with(intent, tenants=tenants, claims=intent._claims, endpoint_at=intent._endpoint_at)

    snode = segments.get(key.segment)
    if snode is None:
        raise NotFound(f"tenant {key.tenant} segment {key.segment}")
    claims = intent._claims
    endpoint_at = intent._endpoint_at
    where = (key.tenant, key.segment)
    if kind == Kind.MEMBER:
        assert isinstance(obj, Member)
        old_member = snode.members.get(key.name)
        members = dict(snode.members)
        members[key.name] = obj
        snode = snode.model_copy(update={"members": members})
        claims = _move_claim(claims, where, None if old_member is None else _claim_of(old_member), _claim_of(obj))
    else:
        assert isinstance(obj, Endpoint)
        located = intent.endpoint_locations().get(key.name)
        if located is not None and located != where:
            raise IntentError(
                Problem(
                    f"endpoint {key.name}",
                    "id",
                    f"is already used in tenant {located[0]} segment {located[1]}",
                    kind="conflict",
                )
            )
        old_ep = snode.endpoints.get(key.name)
        endpoints = dict(snode.endpoints)
        endpoints[key.name] = obj
        snode = snode.model_copy(update={"endpoints": endpoints})
        claims = _move_claim(claims, where, None if old_ep is None else _claim_of(old_ep), _claim_of(obj))
        if old_ep is None:
            endpoint_at = dict(intent.endpoint_locations())
            endpoint_at[key.name] = where
    segments[key.segment] = snode
    tenants[key.tenant] = tnode.model_copy(update={"segments": segments})
    return _with(intent, tenants=tenants, claims=claims, endpoint_at=endpoint_at)


def delete(intent: Intent, key: Key) -> Intent:
    """Remove the object at key with everything below it (a tenant's segments, a segment's endpoints).
    Raises NotFound if it is not there. Whether others still refer to it is `validate.referrers`' job."""
    if intent.get(key) is None:
        raise NotFound(str(key))
    kind = key.kind
    if kind in (Kind.SWITCH, Kind.LINK, Kind.INTERFACE_GROUP):
        topo = intent.topology
        field = {Kind.SWITCH: "switches", Kind.LINK: "links", Kind.INTERFACE_GROUP: "interface_groups"}[kind]
        items = dict(getattr(topo, field))
        del items[key.name]
        return _with(
            intent,
            topology=topo.model_copy(update={field: items}),
            claims=intent._claims,
            endpoint_at=intent._endpoint_at,
        )

    tenants = dict(intent.tenants)
    tnode = tenants[key.tenant]
    if kind == Kind.TENANT:
        if key.tenant == SYSTEM:
            # The system tenant always exists; deleting it clears its configuration.
            tenants[SYSTEM] = TenantNode(tenant=Tenant(name=SYSTEM))
        else:
            del tenants[key.tenant]
        # Dropping many segments at once: rebuild the indexes lazily.
        return _with(intent, tenants=tenants)
    if kind == Kind.LOGICAL_ROUTER:
        tenants[key.tenant] = tnode.model_copy(update={"router": None})
        return _with(intent, tenants=tenants, claims=intent._claims, endpoint_at=intent._endpoint_at)

    segments = dict(tnode.segments)
    where = (key.tenant, key.segment)
    if kind == Kind.SEGMENT:
        del segments[key.segment]
        tenants[key.tenant] = tnode.model_copy(update={"segments": segments})
        return _with(intent, tenants=tenants)

    snode = segments[key.segment]
    claims = intent._claims
    endpoint_at = intent._endpoint_at
    if kind == Kind.MEMBER:
        members = dict(snode.members)
        claims = _move_claim(claims, where, _claim_of(members.pop(key.name)), None)
        snode = snode.model_copy(update={"members": members})
    else:
        endpoints = dict(snode.endpoints)
        claims = _move_claim(claims, where, _claim_of(endpoints.pop(key.name)), None)
        snode = snode.model_copy(update={"endpoints": endpoints})
        if endpoint_at is not None:
            endpoint_at = dict(endpoint_at)
            endpoint_at.pop(key.name, None)
    segments[key.segment] = snode
    tenants[key.tenant] = tnode.model_copy(update={"segments": segments})
    return _with(intent, tenants=tenants, claims=claims, endpoint_at=endpoint_at)


def _claim_of(obj: Member | Endpoint) -> Claim | None:
    if isinstance(obj, Member):
        return (obj.interface_group, obj.vlan)
    ap = obj.attachment_point
    return None if ap is None else (ap.interface_group, ap.vlan)


def _move_claim(
    claims: dict[Claim, dict[Location, int]] | None, where: Location, old: Claim | None, new: Claim | None
) -> dict[Claim, dict[Location, int]] | None:
    if claims is None or old == new:
        return claims
    claims = dict(claims)
    if old is not None:
        holders = dict(claims.get(old, {}))
        count = holders.get(where, 0) - 1
        if count > 0:
            holders[where] = count
        else:
            holders.pop(where, None)
        if holders:
            claims[old] = holders
        else:
            claims.pop(old, None)
    if new is not None:
        holders = dict(claims.get(new, {}))
        holders[where] = holders.get(where, 0) + 1
        claims[new] = holders
    return claims


def build(objects: Iterable[tuple[Key, Model]]) -> Intent:
    """An intent from (key, object) pairs in any order, e.g. rows loaded from the store. Children whose
    parent is missing raise NotFound."""
    ordered = sorted(objects, key=lambda ko: _BUILD_ORDER[ko[0].kind])
    switches: dict = {}
    links: dict = {}
    groups: dict = {}
    tenants: dict[str, TenantNode] = {}
    routers: dict[str, Model] = {}
    segments: dict[str, dict[str, SegmentNode]] = {}
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
            tenants[key.tenant] = obj  # type: ignore[assignment]
            segments[key.tenant] = {}
        elif key.tenant not in tenants:
            raise NotFound(f"tenant {key.tenant} (parent of {key})")
        elif kind == Kind.LOGICAL_ROUTER:
            routers[key.tenant] = obj
        elif kind == Kind.SEGMENT:
            segments[key.tenant][key.segment] = obj  # type: ignore[assignment]
        elif key.segment not in segments[key.tenant]:
            raise NotFound(f"tenant {key.tenant} segment {key.segment} (parent of {key})")
        elif kind == Kind.MEMBER:
            members.setdefault((key.tenant, key.segment), {})[key.name] = obj  # type: ignore[assignment]
        else:
            endpoints.setdefault((key.tenant, key.segment), {})[key.name] = obj  # type: ignore[assignment]
    tree: dict[str, TenantNode] = {}
    for tname, tenant in tenants.items():
        segs = {
            sname: SegmentNode.model_construct(
                segment=seg,
                members=members.get((tname, sname), {}),
                endpoints=endpoints.get((tname, sname), {}),
            )
            for sname, seg in segments[tname].items()
        }
        tree[tname] = TenantNode.model_construct(tenant=tenant, router=routers.get(tname), segments=segs)
    topo = Topology.model_construct(switches=switches, links=links, interface_groups=groups)
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
            _diff_map(changes, getattr(ot, field), getattr(nt, field), lambda n, k=kind: Key(k, name=n))
    for tname in sorted(old.tenants.keys() | new.tenants.keys()):
        a, b = old.tenants.get(tname), new.tenants.get(tname)
        if a is b:
            continue
        if a is None or b is None:
            from .intent import tenant_objects

            node = b if a is None else a
            for key, obj in tenant_objects(tname, node):  # type: ignore[arg-type]
                changes.append(Change(key, None, obj) if a is None else Change(key, obj, None))
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
                from .intent import segment_objects

                node = sb if sa is None else sa
                for key, obj in segment_objects(tname, sname, node):  # type: ignore[arg-type]
                    changes.append(Change(key, None, obj) if sa is None else Change(key, obj, None))
                continue
            if sa.segment != sb.segment:
                changes.append(Change(Key(Kind.SEGMENT, tname, sname), sa.segment, sb.segment))
            _diff_map(changes, sa.members, sb.members, lambda n, t=tname, s=sname: Key(Kind.MEMBER, t, s, n))
            _diff_map(changes, sa.endpoints, sb.endpoints, lambda n, t=tname, s=sname: Key(Kind.ENDPOINT, t, s, n))
    changes.sort(key=_change_order)
    return changes


def _diff_map(changes: list[Change], a: dict, b: dict, key_of) -> None:
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
    """Replay changes (e.g. history rows written by another controller) on an intent."""
    for change in changes:
        if change.after is None:
            if intent.get(change.key) is not None:
                intent = delete(intent, change.key)
        else:
            intent = put(intent, change.key, change.after)
    return intent
