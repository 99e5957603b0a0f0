"""What the networkService API's Neutron objects become in the intent, as transaction operations. Pure.

One Neutron server (its `Instance-ID`, the origination of everything it writes) sees its projects as tenants
named `<project name>.<Instance-ID>`, addressed in paths by the project id (the tenant's `id`); a network is
a segment named after the network (its `id` the network id); a port bound to a host with a MAC is an
endpoint attached at the interface-group named after `binding:host_id`, on the VLAN of its bound segment,
and that interface-group on that VLAN is a member of the segment while a port of the origination uses it.
A Neutron router is the tenant's logical-router (one per tenant, as BCF has it): its external gateway is
`interface tenant system` with `route 0.0.0.0/0 next-hop tenant system`, its interfaces are the gateway
addresses of `interface segment S`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...model import (
    SYSTEM,
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
    NotFound,
    Operation,
    Put,
    Route,
    Segment,
    SegmentInterface,
    SegmentNode,
    Tenant,
    TenantNode,
)
from ...model.intent import segment_objects, tenant_objects
from .refusal import M, Refusal, validated

Json = Mapping[str, Any]
DEFAULT_ROUTE = ipaddress.ip_network("0.0.0.0/0")

# What BCF answers when a port names a network it does not have; the client then syncs in full.
NXNETWORK = "NXVNS"


@dataclass(frozen=True)
class Origin:
    """Who writes: the Neutron server's Instance-ID, and the origination its members carry."""

    instance: str
    member_origination: str

    def owns(self, key: Key, obj: Model) -> bool:
        wanted = self.member_origination if key.kind == Kind.MEMBER else self.instance
        return getattr(obj, "origination", None) == wanted


def tenant_name(project: str, origin: Origin) -> str:
    return f"{project}.{origin.instance}"


def find_tenant(intent: Intent, project_id: str, origin: Origin) -> str | None:
    """The tenant of a Neutron project: the one of this origination whose id is the project id."""
    for name, tnode in intent.tenants.items():
        if tnode.tenant.id == project_id and tnode.tenant.origination == origin.instance:
            return name
    return None


def find_segment(tnode: TenantNode, network_id: str) -> str | None:
    for name, snode in tnode.segments.items():
        if snode.segment.id == network_id:
            return name
    return None


def _text(body: Json, name: str, where: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise Refusal(422, f"{where}{name}", f"{where}{name} is required")
        return None
    if not isinstance(value, str):
        raise Refusal(422, f"{where}{name}", f"{where}{name} must be a string")
    return value


def _object(body: Any, name: str) -> Json:
    if not isinstance(body, Mapping):
        raise Refusal(422, name, f"{name} must be a JSON object")
    return body


def _model(model: type[M], data: dict[str, Any], prefix: str, names: Mapping[str, str] | None = None) -> M:
    return validated(model, data, prefix=prefix, names=names)


# ---- tenants -------------------------------------------------------------------------------------------


def tenant_ops(intent: Intent, origin: Origin, body: Json) -> list[Operation]:
    """`POST /tenants {"tenant_id", "tenant_name"}`: the project's tenant, created or renamed."""
    project_id = _text(body, "tenant_id", "")
    assert project_id is not None
    project = _text(body, "tenant_name", "", required=False) or project_id
    return _ensure_tenant(intent, origin, project_id, project, rename=True)[1]


def _ensure_tenant(
    intent: Intent, origin: Origin, project_id: str, project: str, *, rename: bool
) -> tuple[str, list[Operation]]:
    existing = find_tenant(intent, project_id, origin)
    if existing is not None and not rename:
        return existing, []
    wanted = tenant_name(project, origin)
    tenant = _model(
        Tenant, {"name": wanted, "id": project_id, "origination": origin.instance}, "", {"name": "tenant_name"}
    )
    if existing == wanted:
        return wanted, []
    other = intent.tenants.get(wanted)
    if other is not None and (other.tenant.id, other.tenant.origination) != (project_id, origin.instance):
        raise Refusal(409, "tenant_name", f"tenant {wanted} already exists for another project or origination")
    if existing is None:
        return wanted, [Put(Key(Kind.TENANT, wanted), tenant)]
    # A renamed project: its tenant moves to the new name with everything in it.
    old = intent.tenants[existing]
    moved = TenantNode(tenant=tenant, router=old.router, segments=old.segments)
    # The old one goes first: endpoint ids are unique in the fabric (references are checked on the result).
    ops: list[Operation] = [Delete(Key(Kind.TENANT, existing))]
    ops += [Put(key, obj) for key, obj in tenant_objects(wanted, moved)]
    ops += _unreference(intent, {existing}, set(), renamed={existing: wanted})
    return wanted, ops


def delete_tenant_ops(intent: Intent, origin: Origin, project_id: str) -> list[Operation]:
    name = find_tenant(intent, project_id, origin)
    if name is None:
        raise NotFound(f"project {project_id} of {origin.instance}")
    return [*_unreference(intent, {name}, set()), Delete(Key(Kind.TENANT, name))]


def _unreference(
    intent: Intent,
    tenants: set[str],
    segments: set[tuple[str, str]],
    renamed: Mapping[str, str] | None = None,
) -> list[Operation]:
    """Routers that refer to tenants or segments about to go, without those references (or with the new
    name of a renamed tenant): a network or project deleted in Neutron takes its router links with it."""
    renamed = renamed or {}
    ops: list[Operation] = []
    for tname, tnode in intent.tenants.items():
        router = tnode.router
        if router is None or tname in tenants:
            continue
        peers = [renamed.get(p, p) for p in router.tenant_interfaces if p not in tenants or p in renamed]
        routes = []
        for route in router.routes:
            peer = route.next_hop.tenant
            if peer is not None and peer in renamed:
                routes.append(route.model_copy(update={"next_hop": NextHop(tenant=renamed[peer])}))
            elif peer is None or peer not in tenants:
                routes.append(route)
        interfaces = [i for i in router.interfaces if (tname, i.segment) not in segments]
        new = router.model_copy(
            update={"tenant_interfaces": tuple(peers), "routes": tuple(routes), "interfaces": tuple(interfaces)}
        )
        new = LogicalRouter.model_validate(new.model_dump())
        if new != router:
            ops.append(Put(Key(Kind.LOGICAL_ROUTER, tname), new))
    return ops


# ---- networks ------------------------------------------------------------------------------------------


def _tenant_of(
    intent: Intent, origin: Origin, project_id: str, body: Json | None = None
) -> tuple[str, list[Operation]]:
    """The project's tenant; a network that names its project (`tenant_name`) creates it if need be."""
    existing = find_tenant(intent, project_id, origin)
    if existing is not None:
        return existing, []
    project = body.get("tenant_name") if body is not None else None
    if not isinstance(project, str) or not project:
        raise Refusal(404, None, f"{NXNETWORK}: project {project_id[:64]} of {origin.instance} is not known")
    return _ensure_tenant(intent, origin, project_id, project, rename=False)


def network_ops(intent: Intent, origin: Origin, project_id: str, network_id: str | None, body: Json) -> list[Operation]:
    """`POST /tenants/T/networks` and `PUT /tenants/T/networks/N`: the network's segment."""
    net = _object(body.get("network"), "network")
    nid = _text(net, "id", "network.", required=network_id is None) or network_id
    assert nid is not None
    if network_id is not None and nid != network_id:
        raise Refusal(422, "network.id", f"network.id {nid[:64]} is not the network of the path ({network_id[:64]})")
    name = _text(net, "name", "network.")
    assert name is not None
    tname, ops = _tenant_of(intent, origin, project_id, net)
    segment = _model(Segment, {"name": name, "id": nid, "origination": origin.instance}, "network.")
    tnode = intent.tenants.get(tname)
    existing = find_segment(tnode, nid) if tnode is not None else None
    if tnode is not None and existing != name and name in tnode.segments:
        raise Refusal(409, "network.name", f"segment {name} of tenant {tname} is another network's")
    if existing is None or existing == name:
        key = Key(Kind.SEGMENT, tname, name)
        if intent.get(key) != segment:
            ops.append(Put(key, segment))
        return ops
    # A renamed network: its segment moves with its members and endpoints, the router's interface with it.
    assert tnode is not None
    old = tnode.segments[existing]
    ops.append(Put(Key(Kind.SEGMENT, tname, name), segment))
    for key, obj in _segment_children(tname, name, old):
        ops.append(Delete(Key(key.kind, tname, existing, key.name)))
        ops.append(Put(key, obj))
    router = tnode.router
    if router is not None and router.interface(existing) is not None:
        interfaces = [i.model_copy(update={"segment": name}) if i.segment == existing else i for i in router.interfaces]
        new = LogicalRouter.model_validate({**router.model_dump(), "interfaces": [i.model_dump() for i in interfaces]})
        ops.append(Put(Key(Kind.LOGICAL_ROUTER, tname), new))
    ops.append(Delete(Key(Kind.SEGMENT, tname, existing)))
    return ops


def _segment_children(tname: str, sname: str, snode: SegmentNode) -> Iterator[tuple[Key, Model]]:
    for mkey, member in snode.members.items():
        yield Key(Kind.MEMBER, tname, sname, mkey), member
    for eid, endpoint in snode.endpoints.items():
        yield Key(Kind.ENDPOINT, tname, sname, eid), endpoint


def delete_network_ops(intent: Intent, origin: Origin, project_id: str, network_id: str) -> list[Operation]:
    tname, sname = network_of(intent, origin, project_id, network_id, missing=404)
    return [*_unreference(intent, set(), {(tname, sname)}), Delete(Key(Kind.SEGMENT, tname, sname))]


def network_of(intent: Intent, origin: Origin, project_id: str, network_id: str, *, missing: int) -> tuple[str, str]:
    tname = find_tenant(intent, project_id, origin)
    tnode = intent.tenants.get(tname) if tname is not None else None
    sname = find_segment(tnode, network_id) if tnode is not None else None
    if tname is None or sname is None:
        raise Refusal(
            missing, None, f"{NXNETWORK}: network {network_id[:64]} of project {project_id[:64]} is not known"
        )
    return tname, sname


# ---- ports ---------------------------------------------------------------------------------------------


def port_endpoint(port: Json, port_id: str, origin: Origin, network: Json | None = None) -> Endpoint | None:
    """The endpoint a port is, or None for a port without host or MAC (not on the fabric)."""
    host = _text(port, "binding:host_id", "port.", required=False)
    attachment = port.get("attachment")
    mac = _text(port, "mac_address", "port.", required=False)
    if mac is None and isinstance(attachment, Mapping):
        mac = _text(attachment, "mac", "attachment.", required=False)
    if host is None or mac is None:
        return None
    vlan = _vlan(port, network)
    ips = []
    fixed = port.get("fixed_ips") or []
    if not isinstance(fixed, list):
        raise Refusal(422, "port.fixed_ips", "port.fixed_ips must be a list")
    for index, item in enumerate(fixed):
        if not isinstance(item, Mapping) or not isinstance(item.get("ip_address"), str):
            raise Refusal(422, f"port.fixed_ips.{index}", f"port.fixed_ips.{index}.ip_address is required")
        ips.append(item["ip_address"])
    point = None
    if vlan is not None:
        names = {"interface_group": "port.binding:host_id", "vlan": "port.bound_segment.segmentation_id"}
        point = _model(Attachment, {"interface_group": host, "vlan": vlan}, "", names)
    data = {"id": port_id, "attachment_point": point, "ips": ips, "mac": mac, "origination": origin.instance}
    return _model(Endpoint, data, "port.")


def _vlan(port: Json, network: Json | None) -> int | None:
    """The VLAN of the port's bound segment, else of its network (a topology sync sends no bound segment);
    None for a network that is not a VLAN."""
    candidates: list[tuple[str, Any]] = []
    bound = port.get("bound_segment")
    if isinstance(bound, Mapping):
        candidates.append(("port.bound_segment.", bound))
    net = port.get("network") if isinstance(port.get("network"), Mapping) else network
    if isinstance(net, Mapping):
        candidates.append(
            (
                "network.",
                {
                    "network_type": net.get("provider:network_type"),
                    "segmentation_id": net.get("provider:segmentation_id"),
                },
            )
        )
    for where, seg in candidates:
        kind = seg.get("network_type")
        vid = seg.get("segmentation_id")
        if vid is None or (kind is not None and str(kind).lower() != "vlan"):
            continue
        if (
            isinstance(vid, bool)
            or not isinstance(vid, int | str)
            or not str(vid).isdigit()
            or not 1 <= int(vid) <= 4094
        ):
            raise Refusal(422, f"{where}segmentation_id", f"{where}segmentation_id must be a VLAN from 1 to 4094")
        return int(vid)
    return None


def port_ops(
    intent: Intent, origin: Origin, project_id: str, network_id: str, port_id: str, body: Json
) -> list[Operation]:
    """`PUT .../ports/P/attachment`: the port's endpoint (or none), and the members its attachment needs."""
    tname, sname = network_of(intent, origin, project_id, network_id, missing=404)
    port = _object(body.get("port"), "port")
    if port.get("id") not in (None, port_id):
        raise Refusal(422, "port.id", f"port.id is not the port of the path ({port_id[:64]})")
    merged = dict(port)
    if isinstance(body.get("attachment"), Mapping) and "attachment" not in merged:
        merged["attachment"] = body["attachment"]
    endpoint = port_endpoint(merged, port_id, origin)
    return _place_endpoint(intent, origin, port_id, (tname, sname), endpoint)


def delete_port_ops(intent: Intent, origin: Origin, project_id: str, network_id: str, port_id: str) -> list[Operation]:
    tname, sname = network_of(intent, origin, project_id, network_id, missing=404)
    if port_id not in intent.tenants[tname].segments[sname].endpoints:
        raise NotFound(f"port {port_id[:64]} on network {network_id[:64]}")
    return _place_endpoint(intent, origin, port_id, (tname, sname), None)


def _place_endpoint(
    intent: Intent, origin: Origin, port_id: str, where: tuple[str, str], endpoint: Endpoint | None
) -> list[Operation]:
    ops: list[Operation] = []
    touched = {where}
    found = intent.find_endpoint(port_id)
    if found is not None:
        at = (found[0], found[1])
        if found[2].origination not in (None, origin.instance):
            raise Refusal(409, "port.id", f"endpoint {port_id[:64]} belongs to origination {found[2].origination}")
        if at != where or endpoint is None:
            ops.append(Delete(Key(Kind.ENDPOINT, at[0], at[1], port_id)))
            touched.add(at)
    if endpoint is not None and (found is None or found[2] != endpoint or (found[0], found[1]) != where):
        ops.append(Put(Key(Kind.ENDPOINT, where[0], where[1], port_id), endpoint))
    for tname, sname in sorted(touched):
        endpoints = dict(intent.tenants[tname].segments[sname].endpoints)
        endpoints.pop(port_id, None)
        if endpoint is not None and (tname, sname) == where:
            endpoints[port_id] = endpoint
        ops += member_ops(tname, sname, intent.tenants[tname].segments[sname], endpoints.values(), origin)
    return ops


def member_ops(
    tname: str, sname: str, snode: SegmentNode, endpoints: Iterable[Endpoint], origin: Origin
) -> list[Operation]:
    """The members the segment's endpoints of this origination need: the first port of a host on a network
    makes its interface-group a member on that VLAN, the last one leaving removes it (only members of this
    origination are removed: one an operator wrote stays)."""
    wanted = {
        (ep.attachment_point.interface_group, ep.attachment_point.vlan)
        for ep in endpoints
        if ep.origination == origin.instance and ep.attachment_point is not None
    }
    have = {(m.interface_group, m.vlan): m for m in snode.members.values()}
    ops: list[Operation] = []
    for group, vlan in sorted(wanted - set(have)):
        member = Member(interface_group=group, vlan=vlan, origination=origin.member_origination)
        ops.append(Put(Key(Kind.MEMBER, tname, sname, member.key), member))
    for (group, vlan), member in sorted(have.items()):
        if (group, vlan) not in wanted and member.origination == origin.member_origination:
            ops.append(Delete(Key(Kind.MEMBER, tname, sname, member.key)))
    return ops


# ---- routers (the bsn_l3 plugin of networking-bigswitch <= 14) -------------------------------------------


def router_ops(intent: Intent, origin: Origin, project_id: str, body: Json) -> list[Operation]:
    """`POST /tenants/T/routers`, `PUT .../routers/R`: the tenant's logical-router, with the way out to
    tenant `system` while the router has an external gateway."""
    router = _object(body.get("router"), "router")
    tname = find_tenant(intent, project_id, origin)
    if tname is None:
        raise Refusal(404, None, f"project {project_id[:64]} of {origin.instance} is not known")
    tnode = intent.tenants[tname]
    new = _with_gateway(tnode.router or LogicalRouter(), bool(router.get("external_gateway_info")))
    ops: list[Operation] = []
    if new != tnode.router:
        ops.append(Put(Key(Kind.LOGICAL_ROUTER, tname), new))
    ops += _system_link(intent, tname, SYSTEM in new.tenant_interfaces)
    return ops


def _with_gateway(router: LogicalRouter, gateway: bool) -> LogicalRouter:
    peers = set(router.tenant_interfaces)
    routes = [r for r in router.routes if not (r.prefix == DEFAULT_ROUTE and r.next_hop.tenant == SYSTEM)]
    if gateway:
        peers.add(SYSTEM)
        routes.append(Route(prefix=DEFAULT_ROUTE, next_hop=NextHop(tenant=SYSTEM)))
    else:
        peers.discard(SYSTEM)
    data = router.model_dump()
    data.update(tenant_interfaces=sorted(peers), routes=[r.model_dump() for r in routes])
    return LogicalRouter.model_validate(data)


def _system_link(intent: Intent, tname: str, linked: bool) -> list[Operation]:
    """`system`'s side of the link to a tenant (`interface tenant T` on system's router)."""
    system = intent.tenants[SYSTEM].router or LogicalRouter()
    peers = set(system.tenant_interfaces)
    if linked == (tname in peers):
        return []
    peers = peers | {tname} if linked else peers - {tname}
    routes = [r for r in system.routes if linked or r.next_hop.tenant != tname]
    data = system.model_dump()
    data.update(tenant_interfaces=sorted(peers), routes=[r.model_dump() for r in routes])
    return [Put(Key(Kind.LOGICAL_ROUTER, SYSTEM), LogicalRouter.model_validate(data))]


def delete_router_ops(intent: Intent, origin: Origin, project_id: str) -> list[Operation]:
    tname = find_tenant(intent, project_id, origin)
    if tname is None or intent.tenants[tname].router is None:
        raise NotFound(f"the router of project {project_id[:64]}")
    return [*_system_link(intent, tname, False), Delete(Key(Kind.LOGICAL_ROUTER, tname))]


def interface_ops(intent: Intent, origin: Origin, project_id: str, body: Json) -> list[Operation]:
    """`POST .../routers/R/interfaces`: the gateway address on the network's segment interface."""
    iface = _object(body.get("interface"), "interface")
    net = _object(iface.get("network"), "interface.network")
    subnet = _object(iface.get("subnet"), "interface.subnet")
    nid = _text(net, "id", "interface.network.")
    assert nid is not None
    tname, sname = network_of(intent, origin, project_id, nid, missing=404)
    cidr = _text(subnet, "cidr", "interface.subnet.")
    address = _text(iface, "ip_address", "interface.", required=False) or _text(
        subnet, "gateway_ip", "interface.subnet."
    )
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
        gateway = ipaddress.ip_interface(f"{address}/{network.prefixlen}")
    except ValueError as exc:
        raise Refusal(422, "interface.subnet", f"interface.subnet: {exc}") from None
    tnode = intent.tenants[tname]
    router = tnode.router or LogicalRouter()
    current = router.interface(sname)
    addresses = list(current.ip_addresses) if current is not None else []
    if gateway in addresses:
        return []
    new_iface = SegmentInterface(segment=sname, ip_addresses=(*addresses, gateway))
    interfaces = [i for i in router.interfaces if i.segment != sname] + [new_iface]
    data = router.model_dump()
    data["interfaces"] = [i.model_dump() for i in interfaces]
    return [Put(Key(Kind.LOGICAL_ROUTER, tname), _model(LogicalRouter, data, "interface."))]


# ---- full sync -----------------------------------------------------------------------------------------


def topology_ops(intent: Intent, origin: Origin, body: Json) -> list[Operation]:
    """`POST /topology`: everything of this origination becomes what the body holds, in one transaction;
    what other originations wrote stays. Logical-routers are left as they are: networking-bigswitch 15 sends
    none, and the in-house plugin writes them through the config-tree API; a full sync must not undo it."""
    desired: dict[Key, Model] = {}
    names: dict[str, str] = {}  # project id -> tenant name
    tenants = body.get("tenants", {})
    listed: list[tuple[Any, Any]]
    if isinstance(tenants, Mapping):
        listed = list(tenants.items())
    elif isinstance(tenants, list):
        listed = [
            (t.get("id"), t.get("display-name") or t.get("name")) if isinstance(t, Mapping) else (None, None)
            for t in tenants
        ]
    else:
        raise Refusal(422, "tenants", "tenants is an object {project id: name} or a list")
    for index, (project_id, project) in enumerate(listed):
        if not isinstance(project_id, str) or not isinstance(project, str) or not project_id or not project:
            raise Refusal(422, f"tenants.{index}", f"tenants.{index}: a project needs an id and a name")
        _desire_tenant(desired, names, origin, project_id, project)
    networks = body.get("networks", [])
    if not isinstance(networks, list):
        raise Refusal(422, "networks", "networks is a list")
    for index, net in enumerate(networks):
        where = f"networks.{index}."
        net = _object(net, f"networks.{index}")
        project_id = _text(net, "tenant_id", where)
        nid = _text(net, "id", where)
        name = _text(net, "name", where)
        assert project_id is not None and nid is not None and name is not None
        if project_id not in names:
            project = _text(net, "tenant_name", where)
            assert project is not None
            _desire_tenant(desired, names, origin, project_id, project)
        tname = names[project_id]
        key = Key(Kind.SEGMENT, tname, name)
        if key in desired:
            raise Refusal(422, f"{where}name", f"{where}name: two networks of project {project_id} are named {name}")
        desired[key] = _model(Segment, {"name": name, "id": nid, "origination": origin.instance}, where)
        ports = net.get("ports", [])
        if not isinstance(ports, list):
            raise Refusal(422, f"{where}ports", f"{where}ports is a list")
        endpoints: list[Endpoint] = []
        for pindex, port in enumerate(ports):
            pwhere = f"{where}ports.{pindex}."
            port = _object(port, pwhere.rstrip("."))
            port_id = _text(port, "id", pwhere)
            assert port_id is not None
            endpoint = port_endpoint(port, port_id, origin, net)
            if endpoint is not None:
                endpoints.append(endpoint)
                desired[Key(Kind.ENDPOINT, tname, name, port_id)] = endpoint
        for ep in endpoints:
            if ep.attachment_point is not None:
                member = Member(
                    interface_group=ep.attachment_point.interface_group,
                    vlan=ep.attachment_point.vlan,
                    origination=origin.member_origination,
                )
                desired[Key(Kind.MEMBER, tname, name, member.key)] = member
    return _replace(intent, origin, desired)


def _holds_others(intent: Intent, key: Key, owned: Mapping[Key, Model]) -> bool:
    if key.kind == Kind.TENANT:
        inside = tenant_objects(key.tenant, intent.tenants[key.tenant])
    elif key.kind == Kind.SEGMENT:
        inside = segment_objects(key.tenant, key.segment, intent.tenants[key.tenant].segments[key.segment])
    else:
        return False
    # The tenant's logical-router goes with it: a router is not someone else's object in the tenant.
    return any(k not in owned and k != key and k.kind != Kind.LOGICAL_ROUTER for k, _ in inside)


def _desire_tenant(
    desired: dict[Key, Model], names: dict[str, str], origin: Origin, project_id: str, project: str
) -> None:
    tenant = _model(
        Tenant,
        {"name": tenant_name(project, origin), "id": project_id, "origination": origin.instance},
        "",
        {"name": "tenants"},
    )
    key = Key(Kind.TENANT, tenant.name)
    if key in desired and desired[key] != tenant:
        raise Refusal(422, "tenants", f"two projects would both be tenant {tenant.name}")
    desired[key] = tenant
    names[project_id] = tenant.name


def _replace(intent: Intent, origin: Origin, desired: dict[Key, Model]) -> list[Operation]:
    # What the intent holds of this origination (`Intent.originated`, as `GET /v1/objects` answers it), its
    # members by their own origination; logical-routers are not a full sync's to replace.
    owned = {
        key: obj
        for origination in {origin.instance, origin.member_origination}
        for key, obj in intent.originated(origination)
        if key.kind != Kind.LOGICAL_ROUTER and origin.owns(key, obj)
    }
    # A tenant or segment of this origination that no longer exists in Neutron but still holds what others
    # wrote (an operator's endpoint) stays for them; everything of this origination in it goes.
    gone = [key for key in owned if key not in desired and not _holds_others(intent, key, owned)]
    gone_tenants = {k.tenant for k in gone if k.kind == Kind.TENANT}
    gone_segments = {(k.tenant, k.segment) for k in gone if k.kind == Kind.SEGMENT}
    ops: list[Operation] = [Delete(key, missing_ok=True) for key in gone]
    # Deletes first: an endpoint that moved to another segment keeps its id, unique in the fabric.
    ops += _unreference(intent, gone_tenants, gone_segments)
    for key, obj in desired.items():
        if intent.get(key) != obj:
            ops.append(Put(key, obj))
    return ops
