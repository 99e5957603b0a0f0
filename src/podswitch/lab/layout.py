"""What the lab POD looks like, computed from the intent: pure, no I/O.

`layout(intent, shape, placed)` says which switches, links and interface-groups the topology must hold for
the emulated POD, and where each server (one per interface-group) is cabled. `topology_operations` turns
the difference between that plan and the intent's topology into one transaction: the lab's topology is
intent like any other, written through the API and visible in running-config and history.

`endpoint_specs` says how every endpoint of the intent is realised behind its server: VLAN, MAC,
addresses with the prefix length of the segment's gateway subnet, and the gateways.

Placement is stable: a server that the topology (or the lab, earlier) already put on a lab leaf keeps its
leaf and port; a new one goes to the least loaded leaf, on its lowest free port. `external` (the world
outside, behind tenant `system`) goes to the last leaf, the border leaf."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Delete, Intent, InterfaceGroup, Key, Kind, Link, Operation, Port, Put, Role, Switch

EXTERNAL = "external"
UPLINK_BASE = 48  # leaf port swp{48+s} goes to spine s; swp1..swp48 face servers
SERVER_PORTS = range(1, UPLINK_BASE + 1)
DEFAULT_PREFIX_V4 = 24
DEFAULT_PREFIX_V6 = 64
SHORT_LEN = 8

_LAB_SWITCH = re.compile(r"(spine|leaf)([1-9][0-9]*)")


@dataclass(frozen=True)
class Shape:
    """How big the emulated POD is, and which servers it gets besides those the intent names."""

    spines: int = 2
    leaves: int = 4
    servers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.spines <= 16:
            raise ValueError("spines must be 1..16")
        if not 1 <= self.leaves <= UPLINK_BASE:
            raise ValueError(f"leaves must be 1..{UPLINK_BASE}")


def spine_name(index: int) -> str:
    return f"spine{index}"


def leaf_name(index: int) -> str:
    return f"leaf{index}"


def server_port(number: int) -> str:
    return f"swp{number}"


def is_lab_switch(name: str) -> bool:
    return _LAB_SWITCH.fullmatch(name) is not None


@dataclass(frozen=True, order=True)
class Place:
    """Where a server's trunk `eth0` is cabled."""

    leaf: str
    port: str


@dataclass(frozen=True)
class Layout:
    shape: Shape
    switches: dict[str, Switch]
    links: dict[str, Link]  # by Link.key
    groups: dict[str, InterfaceGroup]  # what the topology must say for each server
    servers: dict[str, Place]  # interface-group -> cabling

    @property
    def leaves(self) -> list[str]:
        return [leaf_name(i) for i in range(1, self.shape.leaves + 1)]

    @property
    def spines(self) -> list[str]:
        return [spine_name(i) for i in range(1, self.shape.spines + 1)]


def fabric(shape: Shape) -> tuple[dict[str, Switch], dict[str, Link]]:
    switches: dict[str, Switch] = {}
    links: dict[str, Link] = {}
    for s in range(1, shape.spines + 1):
        switches[spine_name(s)] = Switch(name=spine_name(s), role=Role.SPINE)
    for leaf in range(1, shape.leaves + 1):
        switches[leaf_name(leaf)] = Switch(name=leaf_name(leaf), role=Role.LEAF)
        for s in range(1, shape.spines + 1):
            link = Link(
                a=Port(switch=leaf_name(leaf), interface=server_port(UPLINK_BASE + s)),
                b=Port(switch=spine_name(s), interface=server_port(leaf)),
            )
            links[link.key] = link
    return switches, links


def wanted_groups(intent: Intent, shape: Shape) -> list[str]:
    """Every interface-group that gets a server: referenced by members/endpoints, already in the
    topology, configured extras, and `external`."""
    names = {group for group, _ in intent.claims()}
    names.update(intent.topology.interface_groups)
    names.update(shape.servers)
    names.add(EXTERNAL)
    return sorted(names)


def layout(intent: Intent, shape: Shape, placed: Mapping[str, Place] | None = None) -> Layout:
    """The lab POD for `intent`. `placed` is where the lab cabled servers before (its state file)."""
    placed = placed or {}
    switches, links = fabric(shape)
    leaves = [leaf_name(i) for i in range(1, shape.leaves + 1)]
    lab_leaves = set(leaves)
    used: dict[str, set[str]] = {
        leaf: {server_port(UPLINK_BASE + s) for s in range(1, shape.spines + 1)} for leaf in leaves
    }
    load = dict.fromkeys(leaves, 0)
    topo_groups = intent.topology.interface_groups
    groups: dict[str, InterfaceGroup] = {}
    servers: dict[str, Place] = {}

    def take(group: str, where: Place) -> None:
        used[where.leaf].add(where.port)
        load[where.leaf] += 1
        servers[group] = where

    # Ports that the topology gives to groups are taken first, whoever they belong to.
    for name in sorted(topo_groups):
        for port in topo_groups[name].members:
            if port.switch in lab_leaves:
                used[port.switch].add(port.interface)
    names = wanted_groups(intent, shape)
    fresh: list[str] = []
    for name in names:
        existing = topo_groups.get(name)
        on_lab = [p for p in existing.members if p.switch in lab_leaves] if existing else []
        if on_lab:
            # The operator's (or an earlier lab's) cabling is the truth; the first lab port is the uplink.
            first = on_lab[0]
            servers[name] = Place(first.switch, first.interface)
            load[first.switch] += 1
            groups[name] = existing  # type: ignore[assignment]
        else:
            fresh.append(name)
    still: list[str] = []
    for name in fresh:
        before = placed.get(name)
        if (
            before is not None
            and before.leaf in lab_leaves
            and before.port not in used[before.leaf]
            and _server_port_number(before.port) is not None
        ):
            take(name, before)
        else:
            still.append(name)
    # External first: it has a fixed leaf, and it must not find that leaf's ports given away.
    still.sort(key=lambda n: (n != EXTERNAL, n))
    for name in still:
        leaf = leaves[-1] if name == EXTERNAL else min(leaves, key=lambda lf: (load[lf], leaves.index(lf)))
        free = _free_port(used[leaf])
        if free is None:
            candidates = sorted(leaves, key=lambda lf: (load[lf], leaves.index(lf)))
            leaf, free = next(((lf, p) for lf in candidates if (p := _free_port(used[lf])) is not None), (leaf, None))
            if free is None:
                raise ValueError(f"no free server port left on any leaf for server {name}")
        take(name, Place(leaf, free))
    for name, where in servers.items():
        if name not in groups:
            groups[name] = InterfaceGroup(name=name, members=(Port(switch=where.leaf, interface=where.port),))
    return Layout(shape=shape, switches=switches, links=links, groups=groups, servers=dict(sorted(servers.items())))


def _server_port_number(port: str) -> int | None:
    if port.startswith("swp") and port[3:].isdigit():
        n = int(port[3:])
        return n if n in SERVER_PORTS else None
    return None


def _free_port(used: set[str]) -> str | None:
    for n in SERVER_PORTS:
        if server_port(n) not in used:
            return server_port(n)
    return None


# ---- topology writes -----------------------------------------------------------------------------


def topology_operations(intent: Intent, lab: Layout) -> list[Operation]:
    """The operations that make the topology hold `lab` (one transaction), parents before children,
    deletions last.

    Switches keep whatever else the operator set on them (a management address); links and groups of the
    plan are written as planned. Links between two lab-named switches that the plan does not have (a
    smaller POD than last time) are deleted, and so are lab-named switches nothing refers to any more."""
    topo = intent.topology
    out: list[Operation] = []
    for name, sw in lab.switches.items():
        have = topo.switches.get(name)
        if have is None or have.role != sw.role:
            body = sw if have is None else have.model_copy(update={"role": sw.role})
            out.append(Put(Key(Kind.SWITCH, name=name), body))
    for name, group in lab.groups.items():
        if topo.interface_groups.get(name) != group:
            out.append(Put(Key(Kind.INTERFACE_GROUP, name=name), group))
    for key, link in lab.links.items():
        if key not in topo.links:
            out.append(Put(Key(Kind.LINK, name=key), link))
    stale_links = [
        key
        for key, link in topo.links.items()
        if key not in lab.links and is_lab_switch(link.a.switch) and is_lab_switch(link.b.switch)
    ]
    for key in sorted(stale_links):
        out.append(Delete(Key(Kind.LINK, name=key), missing_ok=True))
    gone = set(stale_links)
    referenced = {p.switch for key, link in topo.links.items() if key not in gone for p in (link.a, link.b)}
    for name, group in topo.interface_groups.items():
        members = lab.groups[name].members if name in lab.groups else group.members
        referenced.update(p.switch for p in members)
    for name in sorted(topo.switches):
        if is_lab_switch(name) and name not in lab.switches and name not in referenced:
            out.append(Delete(Key(Kind.SWITCH, name=name), missing_ok=True))
    return out


# ---- endpoints -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointSpec:
    """How one endpoint is realised: a namespace behind `server`'s VLAN `vlan` bridge."""

    id: str
    tenant: str
    segment: str
    server: str
    vlan: int
    mac: str | None
    addresses: tuple[str, ...] = ()  # with prefix length, e.g. 10.66.16.2/24
    gateways: tuple[str, ...] = ()  # at most one per address family: the default routes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "segment": self.segment,
            "server": self.server,
            "vlan": self.vlan,
            "mac": self.mac,
            "addresses": list(self.addresses),
            "gateways": list(self.gateways),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EndpointSpec:
        return cls(
            id=data["id"],
            tenant=data["tenant"],
            segment=data["segment"],
            server=data["server"],
            vlan=int(data["vlan"]),
            mac=data.get("mac"),
            addresses=tuple(data.get("addresses", ())),
            gateways=tuple(data.get("gateways", ())),
        )


def endpoint_specs(intent: Intent, servers: Iterable[str]) -> dict[str, EndpointSpec]:
    """Every endpoint attached to one of `servers`, by id. An endpoint without an attachment point has
    nowhere to live and is left out."""
    have = set(servers)
    out: dict[str, EndpointSpec] = {}
    for tname, tnode in intent.tenants.items():
        router = tnode.router
        for sname, snode in tnode.segments.items():
            iface = router.interface(sname) if router is not None else None
            gateways = iface.ip_addresses if iface is not None else ()
            for eid, ep in snode.endpoints.items():
                ap = ep.attachment_point
                if ap is None or ap.interface_group not in have:
                    continue
                addresses: list[str] = []
                gws: dict[int, str] = {}
                for ip in ep.ips:
                    gw = next((g for g in gateways if ip in g.network and ip != g.ip), None)
                    if gw is not None:
                        addresses.append(f"{ip}/{gw.network.prefixlen}")
                        gws.setdefault(ip.version, str(gw.ip))
                    else:
                        plen = DEFAULT_PREFIX_V4 if ip.version == 4 else DEFAULT_PREFIX_V6
                        addresses.append(f"{ip}/{plen}")
                out[eid] = EndpointSpec(
                    id=eid,
                    tenant=tname,
                    segment=sname,
                    server=ap.interface_group,
                    vlan=ap.vlan,
                    mac=ep.mac,
                    addresses=tuple(addresses),
                    gateways=tuple(gws[v] for v in sorted(gws)),
                )
    return out


def server_vlans(intent: Intent, servers: Iterable[str]) -> dict[str, list[int]]:
    """VLANs each server's trunk carries: every (group, VLAN) a member or endpoint claims."""
    out: dict[str, set[int]] = {name: set() for name in servers}
    for group, vlan in intent.claims():
        if group in out:
            out[group].add(vlan)
    return {name: sorted(vlans) for name, vlans in out.items()}


def short_names(ids: Iterable[str], existing: Mapping[str, str]) -> dict[str, str]:
    """A short, unique, stable name per endpoint id (its namespace is `<prefix>ep-<short>`): the first
    eight characters of the id; on a collision a suffix `-2`, `-3`... Ids that already have one keep it."""
    wanted = sorted(set(ids))
    out = {eid: existing[eid] for eid in wanted if eid in existing}
    taken = set(out.values())
    for eid in wanted:
        if eid in out:
            continue
        stem = eid[:SHORT_LEN]
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        out[eid] = name
        taken.add(name)
    return out


@dataclass
class Resolution:
    """What a user's NAME for `lab exec` stands for."""

    namespace: str | None = None
    kind: str = ""
    candidates: list[str] = field(default_factory=list)


def resolve(
    name: str, switches: Mapping[str, str], servers: Mapping[str, str], endpoints: Mapping[str, str]
) -> Resolution:
    """NAME -> namespace: a switch, a server (interface-group; `external` is one), or an endpoint id or a
    unique prefix of one. Exact names win over prefixes; an ambiguous prefix lists the candidates."""
    if name in switches:
        return Resolution(switches[name], "switch")
    if name in servers:
        return Resolution(servers[name], "server")
    if name in endpoints:
        return Resolution(endpoints[name], "endpoint")
    hits = sorted(eid for eid in endpoints if eid.startswith(name)) if name else []
    if len(hits) == 1:
        return Resolution(endpoints[hits[0]], "endpoint")
    if len(hits) > 1:
        return Resolution(None, "ambiguous", hits)
    return Resolution(None, "unknown")


def ip_version(address: str) -> int:
    return ipaddress.ip_interface(address).version
