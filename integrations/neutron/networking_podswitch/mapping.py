"""Neutron's objects -> podswitch intent. Pure: Neutron's API dicts in, podswitch objects and operations out;
no Neutron import, no I/O (the loader in `view.py` reads Neutron, the journal sends).

The mapping (docs/neutron.md):
- project -> tenant `<project name>.<origination>` (the project id stands in for a name Keystone did not give
  or that is no podswitch name), id = project id;
- network -> segment named after the network (its id when the name is no podswitch name or an older network
  of the project holds it), id = network id;
- port -> endpoint (id = port id, IPs, MAC); a port bound to a host on a VLAN segment attaches at
  interface-group <host> on that VLAN, and the host's first such port on a network makes the interface-group
  a member of the segment on that VLAN (the last one leaving removes it);
- l3_mode `router`: each tenant's logical-router is what its Neutron routers say: an interface on a segment
  per router interface (the subnet's gateway CIDR), `interface tenant system` + `route 0.0.0.0/0 next-hop
  tenant system` for an external gateway, extra routes as routes;
- l3_mode `subnet` (what the seed's in-house plugin did): every subnet with a gateway on a network that is
  not on an excluded physical network is an interface of its tenant's logical-router, and every tenant with
  one has the way out through tenant system — routers are not looked at.
A tenant linked to system is also linked from system's logical-router (`Desired.linked`); that router is
shared by every tenant, so the journal changes only its own tenants' lines of it.

Tags say which Neutron objects an intent object depends on. A journal row names the tags it touched; the
objects carrying one of them are the ones it (re)writes from Neutron's state when it is sent."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from podswitch.model import (
    Attachment,
    Delete,
    Endpoint,
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
    Tenant,
    member_key,
)
from podswitch.model.types import Name

L3_MODES = ("router", "subnet")
ROUTER_INTERFACE_OWNERS = frozenset(
    {
        "network:router_interface",
        "network:router_interface_distributed",
        "network:ha_router_replicated_interface",
    }
)
DEFAULT_ROUTE = ipaddress.ip_network("0.0.0.0/0")
SYSTEM = "system"

Neutron = Mapping[str, Any]  # one object as Neutron's API shows it

_NAME: TypeAdapter[str] = TypeAdapter(Name)
# Deletes deepest first, puts parents first: in one transaction later operations see earlier ones.
_PUT_ORDER = {Kind.TENANT: 0, Kind.SEGMENT: 1, Kind.MEMBER: 2, Kind.ENDPOINT: 3, Kind.LOGICAL_ROUTER: 4}
_DELETE_ORDER = {Kind.ENDPOINT: 0, Kind.MEMBER: 1, Kind.LOGICAL_ROUTER: 2, Kind.SEGMENT: 3, Kind.TENANT: 4}


@dataclass(frozen=True)
class Settings:
    origination: str = "openstack"
    l3_mode: str = "router"
    exclude_physical_networks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.l3_mode not in L3_MODES:
            raise ValueError(f"l3_mode must be one of {', '.join(L3_MODES)}, not {self.l3_mode!r}")


@dataclass(frozen=True)
class View:
    """Some of Neutron's objects (API dicts by id). What `desired` says about an object is right when the view
    holds everything it depends on: every network, subnet and router (with its interface ports) of its
    project, and for members every port of that network on that host (`view.py` loads exactly that)."""

    projects: Mapping[str, str | None] = field(default_factory=dict)  # project id -> Keystone name
    networks: Mapping[str, Neutron] = field(default_factory=dict)
    subnets: Mapping[str, Neutron] = field(default_factory=dict)
    ports: Mapping[str, Neutron] = field(default_factory=dict)
    routers: Mapping[str, Neutron] = field(default_factory=dict)
    vlans: Mapping[str, int] = field(default_factory=dict)  # port id -> its bound segment's VLAN
    # (network id, host) -> the VLANs its ports bound there use (router ports aside): the members
    bound: Mapping[tuple[str, str], frozenset[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Desired:
    """The intent a view asks for: objects by key, each with its tags; tenants linked to system."""

    objects: dict[Key, Model]
    tags: dict[Key, frozenset[str]]
    linked: dict[str, frozenset[str]]  # tenant linked to system -> the tags of that link
    tenants: dict[str, str]  # project id -> tenant name (every project of the view)


@dataclass(frozen=True)
class Plan:
    """What one journal row (or a batch) does: operations in order, and the lines of system's
    logical-router to set (tenant -> linked or not)."""

    operations: list[Operation]
    links: dict[str, bool]


# ---- names ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def is_name(text: object) -> bool:
    """A podswitch name (hosts and network names repeat: a full snapshot asks 100,000 times)."""
    try:
        _NAME.validate_python(text)
    except ValidationError:
        return False
    return True


def project_of(obj: Neutron) -> str:
    return str(obj.get("project_id") or obj.get("tenant_id") or "")


def tenant_name(project_id: str, name: str | None, origination: str) -> str:
    """`<project name>.<origination>`, the project id standing in for a missing or unusable name."""
    for base in (name, project_id):
        if base and is_name(f"{base}.{origination}"):
            return f"{base}.{origination}"
    return project_id


def segment_names(networks: Iterable[Neutron]) -> dict[str, str]:
    """Segment name of each network of ONE project: the network's name, unless it is no podswitch name or an
    older network (by creation, then id) of the project already holds it; then the network's id."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for net in sorted(networks, key=lambda n: (str(n.get("created_at") or ""), str(n["id"]))):
        name = net.get("name")
        chosen = name if isinstance(name, str) and is_name(name) and name not in taken else str(net["id"])
        taken.add(chosen)
        names[str(net["id"])] = chosen
    return names


def physical_networks(network: Neutron) -> set[str]:
    segments = network.get("segments") or [network]
    return {str(s["provider:physical_network"]) for s in segments if s.get("provider:physical_network")}


# A port of these owners is Neutron's own (a router's leg, a floating IP), never an endpoint. `view.member_vlans`
# says the same in SQL.
ROUTER_OWNER_PREFIX = "network:router"
FLOATINGIP_OWNER = "network:floatingip"


def is_router_port(port: Neutron) -> bool:
    owner = str(port.get("device_owner") or "")
    return owner.startswith(ROUTER_OWNER_PREFIX) or owner in ROUTER_INTERFACE_OWNERS or owner == FLOATINGIP_OWNER


# ---- the desired intent ---------------------------------------------------------------------------------


def desired(view: View, settings: Settings) -> Desired:
    """Everything the view asks for (see `View` for when that is the whole truth about an object)."""
    origination = settings.origination
    projects: set[str] = set(view.projects)
    projects |= {project_of(n) for n in view.networks.values()}
    projects |= {project_of(r) for r in view.routers.values()} if settings.l3_mode == "router" else set()
    projects.discard("")
    tenants = {p: tenant_name(p, view.projects.get(p), origination) for p in sorted(projects)}
    networks_of: dict[str, list[Neutron]] = {p: [] for p in projects}
    for net in view.networks.values():
        networks_of.setdefault(project_of(net), []).append(net)
    seg_name: dict[str, str] = {}
    for nets in networks_of.values():
        seg_name.update(segment_names(nets))
    owner = {net_id: project_of(net) for net_id, net in view.networks.items()}

    objects: dict[Key, Model] = {}
    tags: dict[Key, frozenset[str]] = {}
    linked: dict[str, frozenset[str]] = {}

    def add(key: Key, obj: Model, *tagged: str) -> None:
        objects[key] = obj
        tags[key] = tags.get(key, frozenset()) | frozenset(tagged)

    routers_of: dict[str, list[Neutron]] = {}
    if settings.l3_mode == "router":
        for router in view.routers.values():
            routers_of.setdefault(project_of(router), []).append(router)

    for project, tname in tenants.items():
        if not networks_of.get(project) and not routers_of.get(project):
            continue
        add(Key(Kind.TENANT, tname), Tenant(name=tname, id=project, origination=origination), f"project:{project}")
        for net in networks_of.get(project, ()):
            sname = seg_name[str(net["id"])]
            add(
                Key(Kind.SEGMENT, tname, sname),
                Segment(name=sname, id=str(net["id"]), origination=origination),
                f"project:{project}",
                f"network:{net['id']}",
            )

    for port in sorted(view.ports.values(), key=lambda p: str(p["id"])):
        net_id = str(port.get("network_id") or "")
        if net_id not in seg_name or is_router_port(port):
            continue
        project = owner[net_id]
        tname, sname = tenants[project], seg_name[net_id]
        host = port.get("binding:host_id") or ""
        vlan = view.vlans.get(str(port["id"]))
        attachment = Attachment(interface_group=host, vlan=vlan) if vlan and is_name(host) else None
        # in one order whatever order Neutron lists them in: the consistency check compares objects
        ips = sorted({ipaddress.ip_address(str(ip["ip_address"])) for ip in port.get("fixed_ips") or ()}, key=_ip_order)
        mac = port.get("mac_address")
        add(
            Key(Kind.ENDPOINT, tname, sname, str(port["id"])),
            Endpoint(
                id=str(port["id"]),
                attachment_point=attachment,
                ips=tuple(ips),
                mac=str(mac).lower() if mac else None,
                origination=origination,
            ),
            f"network:{net_id}",
            f"port:{port['id']}",
        )

    for (net_id, host), vlans in sorted(view.bound.items()):
        if net_id not in seg_name or not is_name(host):
            continue
        tname, sname = tenants[owner[net_id]], seg_name[net_id]
        for vlan in sorted(vlans):
            add(
                Key(Kind.MEMBER, tname, sname, member_key(host, vlan)),
                Member(interface_group=host, vlan=vlan, origination=origination),
                f"network:{net_id}",
                f"member:{net_id}:{host}",
            )

    # grouped once: a full snapshot holds 100,000 ports and 10,000 subnets
    interface_ports: dict[str, list[Neutron]] = {}
    for port in view.ports.values():
        if port.get("device_owner") in ROUTER_INTERFACE_OWNERS:
            interface_ports.setdefault(str(port.get("device_id")), []).append(port)
    subnets_of: dict[str, list[Neutron]] = {}
    for subnet in view.subnets.values():
        subnets_of.setdefault(str(subnet.get("network_id")), []).append(subnet)
    for project, tname in tenants.items():
        if Key(Kind.TENANT, tname) not in objects:
            continue
        if settings.l3_mode == "router":
            logical = _router_mode(view, routers_of.get(project, ()), interface_ports, project, owner, seg_name)
        else:
            logical = _subnet_mode(subnets_of, networks_of.get(project, ()), seg_name, settings)
        tagged = (f"project:{project}",)
        if logical is not None:
            add(Key(Kind.LOGICAL_ROUTER, tname), logical, *tagged)
            if SYSTEM in logical.tenant_interfaces:
                linked[tname] = frozenset(tagged)

    project_of_tenant = {name: project for project, name in tenants.items()}
    for key in tags:
        tags[key] |= {f"tenant:{project_of_tenant.get(key.tenant, '')}"}
    for tname in linked:
        linked[tname] |= {f"tenant:{project_of_tenant.get(tname, '')}"}
    return Desired(objects, tags, linked, tenants)


def _ip_order(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    return ip.version, int(ip)


def _gateway(subnet: Neutron, address: str | None = None) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    """The subnet's gateway CIDR (`10.66.16.1/24`); `address` stands in when the subnet has no gateway."""
    gateway = subnet.get("gateway_ip") or address
    if not gateway:
        return None
    prefixlen = ipaddress.ip_network(str(subnet["cidr"]), strict=False).prefixlen
    return ipaddress.ip_interface(f"{gateway}/{prefixlen}")


def _logical_router(
    interfaces: Mapping[str, list[Any]], gateway: bool, routes: Iterable[Route]
) -> LogicalRouter | None:
    ifaces = tuple(
        SegmentInterface(segment=s, ip_addresses=tuple(dict.fromkeys(addrs))) for s, addrs in sorted(interfaces.items())
    )
    by_prefix: dict[Any, Route] = {}
    for route in routes:
        by_prefix.setdefault(route.prefix, route)
    if gateway:
        by_prefix.setdefault(DEFAULT_ROUTE, Route(prefix=DEFAULT_ROUTE, next_hop=NextHop(tenant=SYSTEM)))
    if not ifaces and not gateway and not by_prefix:
        return None
    return LogicalRouter(
        interfaces=ifaces,
        tenant_interfaces=(SYSTEM,) if gateway else (),
        routes=tuple(by_prefix.values()),
    )


def _router_mode(
    view: View,
    routers: Iterable[Neutron],
    interface_ports: Mapping[str, list[Neutron]],
    project: str,
    owner: Mapping[str, str],
    seg_name: Mapping[str, str],
) -> LogicalRouter | None:
    """The tenant's routers as one logical-router (Neutron routers of one project share the fabric's).
    `interface_ports`: router id -> its interface ports."""
    mine = {str(r["id"]): r for r in routers}
    interfaces: dict[str, list[Any]] = {}
    ports = sorted((p for rid in mine for p in interface_ports.get(rid, ())), key=lambda p: str(p["id"]))
    for port in ports:
        net_id = str(port.get("network_id") or "")
        if owner.get(net_id) != project:  # a segment of another tenant cannot be on this tenant's router
            continue
        for fixed in port.get("fixed_ips") or ():
            subnet = view.subnets.get(str(fixed.get("subnet_id")))
            if subnet is None:
                continue
            address = _gateway(subnet, str(fixed["ip_address"]))
            if address is not None:
                interfaces.setdefault(seg_name[net_id], []).append(address)
    connected = [a.network for addrs in interfaces.values() for a in addrs]
    routes: list[Route] = []
    gateway = False
    for rid in sorted(mine):
        router = mine[rid]
        gateway = gateway or bool(router.get("external_gateway_info"))
        for extra in router.get("routes") or ():
            hop = ipaddress.ip_address(str(extra["nexthop"]))
            prefix = ipaddress.ip_network(str(extra["destination"]), strict=False)
            # Neutron checks the next hop is on a connected subnet; one that no longer is (its interface
            # went) is left out rather than refused by the controller.
            if prefix.version == hop.version and any(hop in net for net in connected):
                routes.append(Route(prefix=prefix, next_hop=NextHop(ip=hop)))
    return _logical_router(interfaces, gateway, routes)


def _subnet_mode(
    subnets_of: Mapping[str, list[Neutron]],
    networks: Iterable[Neutron],
    seg_name: Mapping[str, str],
    settings: Settings,
) -> LogicalRouter | None:
    """Every subnet with a gateway is routed by the fabric, out through tenant system (the seed's plugin).
    `subnets_of`: network id -> its subnets."""
    interfaces: dict[str, list[Any]] = {}
    routed = {str(n["id"]) for n in networks if not physical_networks(n) & settings.exclude_physical_networks}
    subnets = sorted((s for net_id in routed for s in subnets_of.get(net_id, ())), key=lambda s: str(s["id"]))
    for subnet in subnets:
        net_id = str(subnet.get("network_id"))
        if not subnet.get("gateway_ip"):
            continue
        address = _gateway(subnet)
        if address is not None:
            interfaces.setdefault(seg_name[net_id], []).append(address)
    return _logical_router(interfaces, bool(interfaces), ())


# ---- what one row does ----------------------------------------------------------------------------------


def plan(want: Desired, tags: Iterable[str], old: Iterable[Key] = ()) -> Plan:
    """The operations that make the objects carrying one of `tags` what `want` says, and remove each key of
    `old` (where the row's objects were before it: a renamed network's segment, a port's previous host)
    that `want` no longer has. Puts replace, deletes are `missing_ok`: sending a plan twice is harmless."""
    wanted = frozenset(tags)
    puts = [key for key, tagged in want.tags.items() if tagged & wanted]
    gone = {key for key in old if key not in want.objects}
    operations: list[Operation] = [
        Delete(key, missing_ok=True) for key in sorted(gone, key=lambda k: (_DELETE_ORDER[k.kind], k))
    ]
    operations += [Put(key, want.objects[key]) for key in sorted(puts, key=lambda k: (_PUT_ORDER[k.kind], k))]
    links = {tname: True for tname, tagged in want.linked.items() if tagged & wanted}
    for key in want.objects:
        if key.kind == Kind.TENANT and key.tenant not in want.linked and want.tags[key] & wanted:
            links[key.tenant] = False
    for key in old:
        if key.kind in (Kind.TENANT, Kind.LOGICAL_ROUTER) and key.tenant not in want.linked:
            links.setdefault(key.tenant, False)
    return Plan(operations, links)


def keys_of(want: Desired, tags: Iterable[str]) -> list[Key]:
    """The keys of `want` carrying one of `tags` (where a row's objects are now: its `old` for later rows)."""
    wanted = frozenset(tags)
    return [key for key, tagged in want.tags.items() if tagged & wanted]


def linked_to_system(system_router: LogicalRouter | None, links: Mapping[str, bool]) -> LogicalRouter | None:
    """System's logical-router with these tenants' lines set (None: nothing to change)."""
    current = system_router or LogicalRouter()
    lines = set(current.tenant_interfaces)
    for tname, on in links.items():
        if on:
            lines.add(tname)
        else:
            lines.discard(tname)
    if lines == set(current.tenant_interfaces):
        return None
    return LogicalRouter.model_validate({**current.model_dump(), "tenant_interfaces": sorted(lines)})
