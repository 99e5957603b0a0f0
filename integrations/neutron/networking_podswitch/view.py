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
from neutron_lib.plugins import constants as plugin_constants
from neutron_lib.plugins import directory

from .db.models import ProjectName
from .mapping import ROUTER_INTERFACE_OWNERS, Settings, View, is_router_port, project_of


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
        projects |= {project_of(n) for n in core.get_networks(context, filters={"id": sorted(network_ids)})}
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


def _levels(context: Any) -> Any:
    return (
        context.session.query(
            PortBindingLevel.port_id,
            PortBindingLevel.level,
            NetworkSegment.network_type,
            NetworkSegment.segmentation_id,
        )
        .join(NetworkSegment, NetworkSegment.id == PortBindingLevel.segment_id)
        .join(
            PortBinding,
            (PortBinding.port_id == PortBindingLevel.port_id)
            & (PortBinding.host == PortBindingLevel.host)
            & (PortBinding.status == n_const.ACTIVE),
        )
    )


def bound_vlans(context: Any, ports: Iterable[dict[str, Any]]) -> dict[str, int]:
    ids = sorted(str(p["id"]) for p in ports if p.get("binding:host_id") and not is_router_port(p))
    if not ids:
        return {}
    return _bottom_vlans(_levels(context).filter(PortBindingLevel.port_id.in_(ids)))


def bound_members(
    context: Any, networks: set[str], pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], frozenset[int]]:
    """(network, host) -> the VLANs the network's (non-router) ports bound on the host use: for every host of
    `networks`, and for each pair of `pairs` (also when none is left: then the set is empty)."""
    found: dict[tuple[str, str], set[int]] = {pair: set() for pair in pairs}
    wanted_nets = networks | {n for n, _ in pairs}
    if not wanted_nets:
        return {}
    query = (
        _levels(context)
        .add_columns(models_v2.Port.network_id, PortBindingLevel.host, models_v2.Port.device_owner)
        .join(models_v2.Port, models_v2.Port.id == PortBindingLevel.port_id)
        .filter(models_v2.Port.network_id.in_(sorted(wanted_nets)))
    )
    if not networks:
        query = query.filter(PortBindingLevel.host.in_(sorted({h for _, h in pairs})))
    rows: dict[tuple[str, str], list[Any]] = {}
    for port_id, level, network_type, seg_id, network_id, host, owner in query:
        if is_router_port({"device_owner": owner}):
            continue
        if network_id in networks or (network_id, host) in pairs:
            rows.setdefault((network_id, host), []).append((port_id, level, network_type, seg_id))
    for pair, levels in rows.items():
        found.setdefault(pair, set()).update(_bottom_vlans(levels).values())
    return {pair: frozenset(vlans) for pair, vlans in found.items()}
