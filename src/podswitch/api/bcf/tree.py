"""The intent seen as the BCF config tree, and a request on the tree turned into one transaction.

A tenant is rendered as BCF's JSON (`tenant_tree`), the request edits that JSON at the path it names
(`select`, `put`, `delete`: the same three functions for every path `paths.TREE` has), and the edited JSON is
read back into model objects (`tenant_node`). The operations of the transaction are the difference between
the objects before and after (`operations`), so a request changes exactly what it names, through the same
model, validation and store as the native API. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ...model import (
    Attachment,
    Delete,
    Endpoint,
    Intent,
    Key,
    Kind,
    LogicalRouter,
    Member,
    Model,
    NextHop,
    Operation,
    Put,
    Route,
    Segment,
    SegmentInterface,
    SegmentNode,
    Tenant,
    TenantNode,
)
from ...model.intent import tenant_objects
from .paths import Element, Node, render
from .refusal import M, Refusal, validated

Json = dict[str, Any]


def _refused(where: str, field: str | None, message: str, status: int = 422) -> Refusal:
    return Refusal(status, field, message, where)


# ---- model -> tree -----------------------------------------------------------------------------------


def tenant_tree(tnode: TenantNode) -> Json:
    out = _identity(tnode.tenant)
    if tnode.router is not None:
        out["logical-router"] = router_tree(tnode.router)
    out["segment"] = [segment_tree(tnode.segments[s]) for s in sorted(tnode.segments)]
    return out


def router_tree(router: LogicalRouter) -> Json:
    # Every list is present, empty or not: the in-house plugin takes a tenant whose router lacks
    # `tenant-interface` or `segment-interface` for one it never configured.
    return {
        "tenant-interface": [{"remote-tenant": t} for t in router.tenant_interfaces],
        "static-route": [
            {"dst-ip-subnet": str(r.prefix), "next-hop": r.next_hop.model_dump(mode="json", exclude_none=True)}
            for r in router.routes
        ],
        "segment-interface": [
            {"segment": i.segment, "ip-subnet": [{"ip-cidr": str(a)} for a in i.ip_addresses]}
            for i in router.interfaces
        ],
    }


def segment_tree(snode: SegmentNode) -> Json:
    out = _identity(snode.segment)
    out["endpoint"] = [endpoint_tree(snode.endpoints[e]) for e in sorted(snode.endpoints)]
    out["member"] = [
        _without_none({"interface-group": m.interface_group, "vlan": m.vlan, "origination": m.origination})
        for m in (snode.members[k] for k in sorted(snode.members))
    ]
    return out


def endpoint_tree(ep: Endpoint) -> Json:
    out: Json = {"id": ep.id}
    if ep.attachment_point is not None:
        out["attachment-point"] = {
            "interface-group": ep.attachment_point.interface_group,
            "vlan": ep.attachment_point.vlan,
        }
    out["ip-address"] = [str(ip) for ip in ep.ips]
    if ep.mac is not None:
        out["mac"] = ep.mac
    if ep.origination is not None:
        out["origination"] = ep.origination
    return out


def _identity(obj: Tenant | Segment) -> Json:
    return _without_none({"name": obj.name, "id": obj.id, "origination": obj.origination})


def _without_none(d: Json) -> Json:
    return {k: v for k, v in d.items() if v is not None}


# ---- edits on the tree ---------------------------------------------------------------------------------


def select(tenants: list[Json], steps: tuple[Element, ...]) -> list[Json]:
    """The entries the path names (lists filtered by their predicates), in order."""
    level: list[Json] = [{"tenant": tenants}]
    for step in steps:
        level = [entry for parent in level for entry in _entries(parent, step)]
    return level


def _entries(parent: Json, step: Element) -> list[Json]:
    value = parent.get(step.name)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item for item in items if _matches(item, step)]


def _matches(entry: Json, step: Element) -> bool:
    return all(k in entry and _text(entry[k]) == v for k, v in step.predicates)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def put(tenants: list[Json], steps: tuple[Element, ...], body: Json, *, merge: bool) -> None:
    """Create or replace (PATCH: `merge` into) the one entry the keyed path names, in place. Containers on
    the way are created; list entries on the way must exist. The body may give the entry other keys than
    the path (the plugin renames an `ip-subnet` so); the fields it does not give are dropped (PUT) or kept
    (PATCH); child lists it does not give are kept either way."""
    where = render(steps)
    last = steps[-1]
    if not last.keyed:
        keys = ", ".join(f'{k}="..."' for k in last.node.keys)
        raise _refused(where, None, f"{last.name} is written at one entry: select it by [{keys}] alone", 400)
    parent: Json = {"tenant": tenants}
    for index, step in enumerate(steps[:-1]):
        found = _entries(parent, step)
        if not found:
            if step.node.is_list:
                raise _refused(render(steps[: index + 1]), None, "does not exist", 404)
            parent[step.name] = {}
            found = [parent[step.name]]
        if len(found) > 1 or not step.keyed:
            raise _refused(render(steps[: index + 1]), None, "names more than one entry: select it by its keys", 400)
        parent = found[0]
    _check_fields(last.node, body, where)
    for key, _ in last.predicates:
        given = body.get(key)
        if given is not None and (not isinstance(given, str | int) or isinstance(given, bool)):
            raise _refused(where, key, f"{key} must be a string")
    # Predicates are text; the one number among the keys is a member's VLAN.
    new: Json = {k: int(v) if k == "vlan" and v.isascii() and v.isdigit() else v for k, v in last.predicates}
    new.update(body)
    if last.node.is_list:
        items = parent.setdefault(last.name, [])
        old = [i for i, item in enumerate(items) if _matches(item, last)]
        base = items[old[0]] if old else {}
        if old:
            del items[old[0]]
        clash = [item for item in items if all(_text(item.get(k)) == _text(new.get(k)) for k in last.node.keys)]
        if clash:
            raise _refused(where, last.node.keys[0], "another entry already has these keys", 409)
        items.append(_combine(last.node, base, new, merge))
    else:
        parent[last.name] = _combine(last.node, parent.get(last.name) or {}, new, merge)


def _combine(node: Node, old: Json, new: Json, merge: bool) -> Json:
    children = {c.name for c in node.children}
    kept = {k: v for k, v in old.items() if k in children or merge}
    return {**kept, **new}


def delete(tenants: list[Json], steps: tuple[Element, ...]) -> int:
    """Remove every entry the path names, with everything below it; how many went."""
    last = steps[-1]
    if last.node.is_list and not last.predicates:
        raise _refused(render(steps), None, f'select which {last.name} to delete: [field="value"]', 400)
    parents = select(tenants, steps[:-1]) if len(steps) > 1 else [{"tenant": tenants}]
    removed = 0
    for parent in parents:
        value = parent.get(last.name)
        if value is None:
            continue
        if isinstance(value, list):
            keep = [item for item in value if not _matches(item, last)]
            removed += len(value) - len(keep)
            value[:] = keep  # in place: at the top, `parent` wraps the caller's own list
        else:
            del parent[last.name]
            removed += 1
    return removed


def _check_fields(node: Node, body: Mapping[str, Any], where: str) -> None:
    known = _BODY_FIELDS[node.name]
    for name in body:
        if name not in known:
            raise _refused(
                where, name, f"{node.name} has no field '{str(name)[:64]}' (it has {', '.join(sorted(known))})"
            )


_BODY_FIELDS: dict[str, frozenset[str]] = {
    "tenant": frozenset({"name", "id", "origination", "logical-router", "segment"}),
    "logical-router": frozenset({"tenant-interface", "static-route", "segment-interface"}),
    "tenant-interface": frozenset({"remote-tenant"}),
    "static-route": frozenset({"dst-ip-subnet", "next-hop"}),
    "segment-interface": frozenset({"segment", "ip-subnet"}),
    "ip-subnet": frozenset({"ip-cidr"}),
    "segment": frozenset({"name", "id", "origination", "endpoint", "member"}),
    "endpoint": frozenset({"id", "attachment-point", "ip-address", "mac", "origination"}),
    "member": frozenset({"interface-group", "vlan", "origination"}),
}


# ---- tree -> model -------------------------------------------------------------------------------------


def tenant_node(tree: Json, old: TenantNode | None) -> TenantNode:
    """The tenant a (possibly edited) tree describes; what the tree cannot say (policy-lists) is kept from
    `old`. A Refusal names the entry and field a bad value is in."""
    where = f'tenant[name="{tree.get("name")}"]'
    _check(tree, "tenant", where)
    tenant = _model(Tenant, {k: tree.get(k) for k in ("name", "id", "origination")}, where)
    router = None
    if "logical-router" in tree:
        router = _router(tree["logical-router"], old.router if old else None, f"{where}/logical-router")
    segments: dict[str, SegmentNode] = {}
    for item in _list(tree, "segment", where):
        snode = _segment(item, f'{where}/segment[name="{item.get("name")}"]')
        if snode.segment.name in segments:
            raise _refused(where, "segment", f"segment {snode.segment.name} is listed twice")
        segments[snode.segment.name] = snode
    return TenantNode(tenant=tenant, router=router, segments=segments)


def _router(tree: Any, old: LogicalRouter | None, where: str) -> LogicalRouter:
    if not isinstance(tree, dict):
        raise _refused(where, None, "logical-router is an object")
    _check(tree, "logical-router", where)
    peers = []
    for item in _list(tree, "tenant-interface", where):
        _check(item, "tenant-interface", f"{where}/tenant-interface")
        peers.append(item.get("remote-tenant"))
    routes = []
    for item in _list(tree, "static-route", where):
        here = f'{where}/static-route[dst-ip-subnet="{item.get("dst-ip-subnet")}"]'
        _check(item, "static-route", here)
        hop = item.get("next-hop")
        if not isinstance(hop, dict):
            raise _refused(here, "next-hop", 'next-hop is {"tenant": "system"} or {"ip": "..."}')
        routes.append(
            _model(Route, {"prefix": item.get("dst-ip-subnet"), "next_hop": _model(NextHop, hop, here)}, here)
        )
    interfaces = []
    for item in _list(tree, "segment-interface", where):
        here = f'{where}/segment-interface[segment="{item.get("segment")}"]'
        _check(item, "segment-interface", here)
        cidrs = []
        for sub in _list(item, "ip-subnet", here):
            _check(sub, "ip-subnet", f"{here}/ip-subnet")
            cidrs.append(sub.get("ip-cidr"))
        interfaces.append(_model(SegmentInterface, {"segment": item.get("segment"), "ip_addresses": cidrs}, here))
    kept = {} if old is None else {"policy_lists": old.policy_lists, "applied_policy_list": old.applied_policy_list}
    return _model(
        LogicalRouter, {"interfaces": interfaces, "tenant_interfaces": peers, "routes": routes, **kept}, where
    )


def _segment(tree: Json, where: str) -> SegmentNode:
    _check(tree, "segment", where)
    segment = _model(Segment, {k: tree.get(k) for k in ("name", "id", "origination")}, where)
    endpoints: dict[str, Endpoint] = {}
    for item in _list(tree, "endpoint", where):
        here = f'{where}/endpoint[id="{item.get("id")}"]'
        _check(item, "endpoint", here)
        point = item.get("attachment-point")
        attachment = None
        if point is not None:
            if not isinstance(point, dict) or set(point) - {"interface-group", "vlan"}:
                raise _refused(here, "attachment-point", 'attachment-point is {"interface-group": G, "vlan": V}')
            attachment = _model(
                Attachment, {"interface_group": point.get("interface-group"), "vlan": point.get("vlan")}, here
            )
        data = {
            "id": item.get("id"),
            "attachment_point": attachment,
            "ips": item.get("ip-address", []),
            "mac": item.get("mac"),
            "origination": item.get("origination"),
        }
        ep = _model(Endpoint, data, here)
        endpoints[ep.id] = ep
    members: dict[str, Member] = {}
    for item in _list(tree, "member", where):
        here = f"{where}/member"
        _check(item, "member", here)
        data = {
            "interface_group": item.get("interface-group"),
            "vlan": item.get("vlan"),
            "origination": item.get("origination"),
        }
        member = _model(Member, data, here)
        members[member.key] = member
    return SegmentNode(segment=segment, members=members, endpoints=endpoints)


def _check(entry: Any, kind: str, where: str) -> None:
    if not isinstance(entry, dict):
        raise _refused(where, None, f"a {kind} is a JSON object")
    known = _BODY_FIELDS[kind]
    for name in entry:
        if name not in known:
            raise _refused(where, name, f"{kind} has no field '{str(name)[:64]}' (it has {', '.join(sorted(known))})")


def _list(tree: Json, name: str, where: str) -> list[Json]:
    value = tree.get(name, [])
    if not isinstance(value, list):
        raise _refused(where, name, f"{name} is a list")
    return value


_FIELD_NAMES = {
    "ip_addresses": "ip-subnet",
    "tenant_interfaces": "tenant-interface",
    "ips": "ip-address",
    "attachment_point": "attachment-point",
    "interface_group": "interface-group",
    "prefix": "dst-ip-subnet",
    "next_hop": "next-hop",
}


def _model(model: type[M], data: Mapping[str, Any], where: str) -> M:
    return validated(model, data, where=where, names=_FIELD_NAMES)


# ---- the difference as operations --------------------------------------------------------------------


def operations(intent: Intent, before: Iterable[str], after: Iterable[TenantNode]) -> list[Operation]:
    """What turns the tenants named `before` (as `intent` has them) into `after`: puts of what is new or
    changed, parents first, and deletes of what is gone (a tenant gone whole is one delete)."""
    new = {t.tenant.name: t for t in after}
    ops: list[Operation] = []
    for name in before:
        if name not in new and name in intent.tenants:
            ops.append(Delete(Key(Kind.TENANT, name), missing_ok=True))
    for name, tnode in new.items():
        old = dict(_objects(intent.tenants.get(name)))
        now = dict(_objects(tnode))
        for key, obj in now.items():
            if old.get(key) != obj:
                ops.append(Put(key, obj))
        for key in reversed(list(old)):
            if key not in now:
                ops.append(Delete(key, missing_ok=True))
    return ops


def _objects(tnode: TenantNode | None) -> Iterator[tuple[Key, Model]]:
    if tnode is not None:
        yield from tenant_objects(tnode.tenant.name, tnode)


def trees(intent: Intent, first: Element) -> list[Json]:
    """The tenants the path's first element can select, as trees (fresh JSON: edits never touch the intent).
    Its predicates on the tenant's own fields are tested before a tenant is rendered: the in-house plugin
    reads `tenant[origination="..."]`, and the fabric may hold 1,000 tenants."""
    name = first.predicate("name")
    chosen = [name] if name is not None else sorted(intent.tenants)
    found = []
    for tname in chosen:
        tnode = intent.tenants.get(tname)
        if tnode is not None and _matches(_identity(tnode.tenant), first):
            found.append(tenant_tree(tnode))
    return found
