"""Read what the mapping needs from Neutron: for a journal row's tags (`load`) or all of it (`load_all`, the
consistency check's snapshot). Objects come through the plugins' own API (the dicts Neutron's REST API
shows); bound VLANs through ML2's binding tables, which the API does not show."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from neutron.db import models_v2
from neutron.db.models.segment import NetworkSegment
from neutron.plugins.ml2.models import PortBinding, PortBindingLevel
from neutron_lib import constants as n_const
from neutron_lib.db.standard_attr import StandardAttribute
from neutron_lib.plugins import constants as plugin_constants
from neutron_lib.plugins import directory
from sqlalchemy import exists, func, or_
from sqlalchemy.orm import aliased

from .db.models import ProjectName
from .mapping import (
    FLOATINGIP_OWNER,
    ROUTER_INTERFACE_OWNERS,
    ROUTER_OWNER_PREFIX,
    Settings,
    View,
    is_router_port,
    project_of,
)

API_TIME = "%Y-%m-%dT%H:%M:%S"  # Neutron's API shows timestamps in whole seconds (+ "Z")


class Incomplete(Exception):
    """Neutron cannot be read whole now (a plugin the mapping needs is not loaded)."""


def core_plugin() -> Any:
    return directory.get_plugin()


def l3_plugin() -> Any:
    return directory.get_plugin(plugin_constants.L3)


def _by_id(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(i["id"]): i for i in items}


def parse_tags(tags: Iterable[str]) -> dict[str, set[Any]]:
    parsed: dict[str, set[Any]] = {"project": set(), "tenant": set(), "network": set(), "port": set(), "member": set()}
    for tag in tags:
        kind, _, rest = tag.partition(":")
        if kind == "member":
            net, _, host = rest.partition(":")
            parsed["member"].add((net, host))
        elif kind in parsed:
            parsed[kind].add(rest)
    return parsed


def load(context: Any, tags: Iterable[str], settings: Settings) -> View:
    """The part of Neutron the objects carrying `tags` depend on (see mapping.View)."""
    core = core_plugin()
    wanted = parse_tags(tags)
    ports = _by_id(core.get_ports(context, filters={"id": sorted(wanted["port"])})) if wanted["port"] else {}
    network_ids = set(wanted["network"]) | {n for n, _ in wanted["member"]}
    network_ids |= {str(p["network_id"]) for p in ports.values()}
    projects = set(wanted["project"]) | set(wanted["tenant"])
    if network_ids:
        projects |= set(network_projects(context, network_ids).values())
    projects.discard("")
    networks = _by_id(core.get_networks(context, filters={"project_id": sorted(projects)})) if projects else {}
    # Everything in these networks: the whole tenant (a rename) or one network (its segment moves with it).
    whole = set(wanted["network"]) | {i for i, n in networks.items() if project_of(n) in wanted["tenant"]}
    if whole:
        ports.update(_by_id(core.get_ports(context, filters={"network_id": sorted(whole)})))
    subnets = _by_id(core.get_subnets(context, filters={"network_id": sorted(networks)})) if networks else {}
    routers: dict[str, dict[str, Any]] = {}
    l3_projects = set(wanted["project"]) | set(wanted["tenant"])
    if settings.l3_mode == "router" and l3_projects and l3_plugin() is not None:
        routers = _by_id(l3_plugin().get_routers(context, filters={"project_id": sorted(l3_projects)}))
        if routers:
            ports.update(
                _by_id(
                    core.get_ports(
                        context,
                        filters={"device_id": sorted(routers), "device_owner": sorted(ROUTER_INTERFACE_OWNERS)},
                    )
                )
            )
    members = set(wanted["member"])
    return View(
        projects=project_names(context, projects),
        networks=networks,
        subnets=subnets,
        ports=ports,
        routers=routers,
        vlans=bound_vlans(context, ports.values()),
        bound=bound_members(context, whole, members),
    )


def load_all(context: Any, settings: Settings) -> View:
    """All of Neutron that the mapping looks at. Call it inside one reader transaction: a snapshot."""
    core = core_plugin()
    if core is None:
        raise Incomplete("the core plugin is not loaded yet: not a complete view of Neutron")
    networks = _by_id(core.get_networks(context))
    ports = _by_id(core.get_ports(context))
    routers: dict[str, dict[str, Any]] = {}
    if settings.l3_mode == "router":
        plugin = l3_plugin()
        if plugin is None:
            raise Incomplete("l3_mode is router but no L3 plugin is loaded: not a complete view of Neutron")
        routers = _by_id(plugin.get_routers(context))
    projects = {project_of(n) for n in networks.values()} | {project_of(r) for r in routers.values()}
    projects.discard("")
    return View(
        projects=project_names(context, projects),
        networks=networks,
        subnets=_by_id(core.get_subnets(context)),
        ports=ports,
        routers=routers,
        vlans=bound_vlans(context, ports.values()),
        bound=bound_members(context, set(networks), set()),
    )


def network_projects(context: Any, network_ids: Iterable[str]) -> dict[str, str]:
    """network id -> its project: a plain query (the core plugin's get_networks builds every network's full
    API dict, with its segments and extensions, to answer this)."""
    query = context.session.query(models_v2.Network.id, models_v2.Network.project_id)
    return {str(i): str(p or "") for i, p in query.filter(models_v2.Network.id.in_(sorted(set(network_ids))))}


def project_networks(context: Any, project_id: str) -> list[dict[str, Any]]:
    """The project's networks as `mapping.segment_names` needs them (id, name, and created_at as the API
    shows it: only with Neutron's timestamp plugin loaded, as it is by default), in one plain query: what a
    precommit reads to know a segment's name; `load` names segments from the API's dicts, and both must
    agree."""
    if directory.get_plugin("timestamp") is None:
        query = context.session.query(models_v2.Network.id, models_v2.Network.name)
        return [{"id": str(i), "name": name} for i, name in query.filter(models_v2.Network.project_id == project_id)]
    query = (
        context.session.query(models_v2.Network.id, models_v2.Network.name, StandardAttribute.created_at)
        .join(StandardAttribute, StandardAttribute.id == models_v2.Network.standard_attr_id)
        .filter(models_v2.Network.project_id == project_id)
    )
    return [
        {"id": str(i), "name": name, "created_at": created.strftime(API_TIME) + "Z" if created else None}
        for i, name, created in query
    ]


def project_names(context: Any, projects: Iterable[str]) -> dict[str, str | None]:
    wanted = sorted(set(projects))
    names: dict[str, str | None] = dict.fromkeys(wanted)
    if wanted:
        rows = context.session.query(ProjectName).filter(ProjectName.project_id.in_(wanted))
        names.update({row.project_id: row.name for row in rows})
    return names


def _bottom_vlans(rows: Iterable[Any]) -> dict[str, int]:
    """port id -> the VLAN of its bottom bound segment (the one facing the host), for VLAN segments."""
    bottom: dict[str, tuple[int, str, int | None]] = {}
    for port_id, level, network_type, segmentation_id in rows:
        if port_id not in bottom or level > bottom[port_id][0]:
            bottom[port_id] = (level, network_type, segmentation_id)
    return {
        port: seg_id for port, (_, kind, seg_id) in bottom.items() if kind == n_const.TYPE_VLAN and seg_id is not None
    }


def _active(query: Any) -> Any:
    """`query` (over binding levels) joined to each level's segment and its port's active binding."""
    return query.join(NetworkSegment, NetworkSegment.id == PortBindingLevel.segment_id).join(
        PortBinding,
        (PortBinding.port_id == PortBindingLevel.port_id)
        & (PortBinding.host == PortBindingLevel.host)
        & (PortBinding.status == n_const.ACTIVE),
    )


def _levels(context: Any) -> Any:
    return _active(
        context.session.query(
            PortBindingLevel.port_id,
            PortBindingLevel.level,
            NetworkSegment.network_type,
            NetworkSegment.segmentation_id,
        )
    )


def bound_vlans(context: Any, ports: Iterable[dict[str, Any]]) -> dict[str, int]:
    ids = sorted(str(p["id"]) for p in ports if p.get("binding:host_id") and not is_router_port(p))
    if not ids:
        return {}
    return _bottom_vlans(_levels(context).filter(PortBindingLevel.port_id.in_(ids)))


def member_vlans(
    context: Any, networks: Iterable[str], hosts: Iterable[str] | None = None
) -> list[tuple[str, str, int]]:
    """(network, host, VLAN) for each VLAN some (non-router) port of `networks` bound on a host (of `hosts`,
    when given) has as its bottom bound segment: one row per distinct triple, however many ports share it —
    the database does the grouping (listing every port made each batch's read grow with the ports of the
    network on the host)."""
    deeper = aliased(PortBindingLevel)
    owner = func.coalesce(models_v2.Port.device_owner, "")
    query = (
        _active(context.session.query(models_v2.Port.network_id, PortBindingLevel.host, NetworkSegment.segmentation_id))
        .join(models_v2.Port, models_v2.Port.id == PortBindingLevel.port_id)
        .filter(models_v2.Port.network_id.in_(sorted(set(networks))))
        .filter(NetworkSegment.network_type == n_const.TYPE_VLAN, NetworkSegment.segmentation_id.isnot(None))
        .filter(
            ~exists().where(
                deeper.port_id == PortBindingLevel.port_id,
                deeper.host == PortBindingLevel.host,
                deeper.level > PortBindingLevel.level,
            )
        )
        .filter(
            ~or_(
                owner.startswith(ROUTER_OWNER_PREFIX, autoescape=True),
                owner.in_(sorted(ROUTER_INTERFACE_OWNERS)),
                owner == FLOATINGIP_OWNER,
            )
        )
        .distinct()
    )
    if hosts is not None:
        query = query.filter(PortBindingLevel.host.in_(sorted(set(hosts))))
    return [(str(net), str(host), int(vlan)) for net, host, vlan in query]


def bound_members(
    context: Any, networks: set[str], pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], frozenset[int]]:
    """(network, host) -> the VLANs the network's (non-router) ports bound on the host use: for every host of
    `networks`, and for each pair of `pairs` (also when none is left: then the set is empty)."""
    found: dict[tuple[str, str], set[int]] = {pair: set() for pair in pairs}
    wanted_nets = networks | {n for n, _ in pairs}
    if not wanted_nets:
        return {}
    hosts = None if networks else {h for _, h in pairs}
    for network_id, host, vlan in member_vlans(context, wanted_nets, hosts):
        if network_id in networks or (network_id, host) in pairs:
            found.setdefault((network_id, host), set()).add(vlan)
    return {pair: frozenset(vlans) for pair, vlans in found.items()}
