"""Rules between objects: references resolve, claims don't clash, addresses fit their subnets.

`validate(intent, changed)` checks only what the changed keys can affect (a new endpoint costs a look at
its segment, not at 100,000 endpoints); `validate(intent)` checks everything. Both raise IntentError
listing every problem found. `referrers` says who still points at an object before it is deleted;
`unresolved` lists references to interface-groups the topology does not have yet (allowed, reported)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable

from .errors import IntentError, Problem
from .intent import Claim, Intent, Key, Kind, SegmentNode, TenantNode
from .router import LogicalRouter
from .tenant import SYSTEM
from .topology import Role

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def validate(intent: Intent, changed: Iterable[Key] | None = None) -> None:
    problems = _check_all(intent) if changed is None else _check_changed(intent, changed)
    if problems:
        raise IntentError(problems)


def _check_all(intent: Intent) -> list[Problem]:
    problems = check_topology(intent)
    for tname, tnode in intent.tenants.items():
        problems += check_router(intent, tname, tnode)
        for sname, snode in tnode.segments.items():
            problems += check_segment(tname, sname, snode, tnode.router)
    problems += check_system_overlap(intent)
    problems += check_claims(intent, intent.claims().keys())
    problems += check_endpoint_ids(intent)
    return problems


def _check_changed(intent: Intent, changed: Iterable[Key]) -> list[Problem]:
    """What the changed keys can affect: the topology, a tenant's router and all its segments, one
    segment, the (interface-group, VLAN) claims of changed members and endpoints."""
    problems: list[Problem] = []
    topology = False
    routers: set[str] = set()
    segments: set[tuple[str, str]] = set()
    claims: set[Claim] = set()
    for key in changed:
        if key.kind in (Kind.SWITCH, Kind.LINK, Kind.INTERFACE_GROUP):
            topology = True
        elif key.kind in (Kind.TENANT, Kind.LOGICAL_ROUTER):
            routers.add(key.tenant)
        elif key.kind in (Kind.MEMBER, Kind.ENDPOINT):
            segments.add((key.tenant, key.segment))
            obj = intent.get(key)
            claim = _claim(obj) if obj is not None else None
            if claim is not None:
                claims.add(claim)
    if topology:
        problems += check_topology(intent)
    for tname in sorted(routers):
        tnode = intent.tenants.get(tname)
        if tnode is None:
            continue
        problems += check_router(intent, tname, tnode)
        for sname, snode in tnode.segments.items():
            problems += check_segment(tname, sname, snode, tnode.router)
            segments.discard((tname, sname))
    if routers:
        # A change to system's router may link (`interface tenant NAME`) tenants that did not meet there.
        problems += check_system_overlap(intent, None if SYSTEM in routers else routers)
    for tname, sname in sorted(segments):
        owner = intent.tenants.get(tname)
        segment = owner.segments.get(sname) if owner else None
        if owner is not None and segment is not None:
            problems += check_segment(tname, sname, segment, owner.router)
    problems += check_claims(intent, claims)
    return problems


def _claim(obj: object) -> Claim | None:
    ap = getattr(obj, "attachment_point", None)
    if ap is not None:
        return (ap.interface_group, ap.vlan)
    if hasattr(obj, "interface_group"):
        return (obj.interface_group, obj.vlan)  # type: ignore[attr-defined]
    return None


# ---- topology ------------------------------------------------------------------------------------


def check_topology(intent: Intent) -> list[Problem]:
    topo = intent.topology
    problems: list[Problem] = []
    used: dict[tuple[str, str], str] = {}

    def use(switch: str, port: str, by: str, obj: str, field: str) -> None:
        prior = used.get((switch, port))
        if prior is not None:
            problems.append(Problem(obj, field, f"port {switch}:{port} is already used by {prior}", "conflict"))
        else:
            used[(switch, port)] = by

    for key, link in sorted(topo.links.items()):
        obj = f"link {key}"
        ends = (link.a, link.b)
        roles = []
        for end in ends:
            sw = topo.switches.get(end.switch)
            if sw is None:
                problems.append(Problem(obj, "switch", f"switch {end.switch} does not exist", "conflict"))
            else:
                roles.append(sw.role)
            use(end.switch, end.interface, obj, obj, "interface")
        if len(roles) == 2 and sorted(roles) != [Role.LEAF, Role.SPINE]:
            problems.append(Problem(obj, None, "a link joins a leaf to a spine", "conflict"))
    for name, group in sorted(topo.interface_groups.items()):
        obj = f"interface-group {name}"
        if not group.members:
            problems.append(Problem(obj, "members", "needs at least one leaf port"))
        for port in group.members:
            sw = topo.switches.get(port.switch)
            if sw is None:
                problems.append(Problem(obj, "members", f"switch {port.switch} does not exist", "conflict"))
            elif sw.role != Role.LEAF:
                problems.append(
                    Problem(obj, "members", f"{port.switch} is a {sw.role.value}; servers attach to leaves", "conflict")
                )
            use(port.switch, port.interface, obj, obj, "members")
    return problems


# ---- tenants and routers ------------------------------------------------------------------------


def subnets_of(router: LogicalRouter | None) -> dict[str, list[Net]]:
    """Segment name -> the subnets of the router's gateway addresses on it."""
    if router is None:
        return {}
    return {iface.segment: [a.network for a in iface.ip_addresses] for iface in router.interfaces}


def check_router(intent: Intent, tname: str, tnode: TenantNode) -> list[Problem]:
    router = tnode.router
    if router is None:
        return []
    obj = f"tenant {tname} logical-router"
    problems: list[Problem] = []
    seen: list[tuple[Net, str]] = []
    for iface in router.interfaces:
        if iface.segment not in tnode.segments:
            problems.append(
                Problem(
                    obj,
                    f"interface segment {iface.segment}",
                    f"segment {iface.segment} does not exist in tenant {tname}",
                    "conflict",
                )
            )
        for addr in iface.ip_addresses:
            for other, where in seen:
                if addr.network.overlaps(other):
                    problems.append(
                        Problem(
                            obj,
                            f"interface segment {iface.segment}",
                            f"subnet {addr.network} overlaps {other} on {where}",
                            "conflict",
                        )
                    )
            seen.append((addr.network, f"interface segment {iface.segment}"))
    for peer in router.tenant_interfaces:
        field = f"interface tenant {peer}"
        if peer == tname:
            problems.append(Problem(obj, field, "a router cannot link to its own tenant"))
        elif tname != SYSTEM and peer != SYSTEM:
            problems.append(Problem(obj, field, "tenants link only to tenant system, the way between tenants"))
        elif peer not in intent.tenants:
            problems.append(Problem(obj, field, f"tenant {peer} does not exist", "conflict"))
    for route in router.routes:
        field = f"route {route.prefix}"
        hop = route.next_hop
        if hop.tenant is not None:
            if hop.tenant not in router.tenant_interfaces:
                problems.append(
                    Problem(
                        obj,
                        field,
                        f"next-hop tenant {hop.tenant} needs 'interface tenant {hop.tenant}' on this router",
                        "conflict",
                    )
                )
        elif hop.ip is not None:
            if hop.ip.version != route.prefix.version:
                problems.append(Problem(obj, field, f"next-hop {hop.ip} is not an IPv{route.prefix.version} address"))
            elif not any(hop.ip in net for net, _ in seen):
                problems.append(Problem(obj, field, f"next-hop {hop.ip} is not on a subnet of this router", "conflict"))
    for plist in router.policy_lists:
        for rule in plist.rules:
            for side in (rule.src, rule.dst):
                if side.segment is not None and side.segment not in tnode.segments:
                    problems.append(
                        Problem(
                            obj,
                            f"policy-list {plist.name} rule {rule.seq}",
                            f"segment {side.segment} does not exist in tenant {tname}",
                            "conflict",
                        )
                    )
    if router.applied_policy_list is not None and router.policy_list(router.applied_policy_list) is None:
        problems.append(
            Problem(obj, "apply policy-list", f"policy-list {router.applied_policy_list} is not defined", "conflict")
        )
    return problems


def _exported(tname: str, tnode: TenantNode, linked_by_system: Collection[str]) -> list[Net]:
    """Subnets a tenant shares with tenant `system`: all of system's own, and those of tenants linked to it
    (by their own `interface tenant system` or by system's `interface tenant NAME`: the compiler links
    either way). Without NAT they must be unique among everything that meets in system."""
    router = tnode.router
    if router is None or not router.interfaces:
        return []
    if tname != SYSTEM and SYSTEM not in router.tenant_interfaces and tname not in linked_by_system:
        return []
    return [a.network for iface in router.interfaces for a in iface.ip_addresses]


def check_system_overlap(intent: Intent, only: set[str] | None = None) -> list[Problem]:
    """Subnets that meet in tenant system must not overlap across tenants. One sort and a sweep over all
    exported prefixes (prefixes either nest or are disjoint), so 10,000 subnets cost milliseconds; with
    `only`, report just the clashes that involve those tenants."""
    system = intent.tenants.get(SYSTEM)
    linked_by_system = frozenset(system.router.tenant_interfaces) if system and system.router else frozenset()
    exported = sorted(
        ((net, tname) for tname, tnode in intent.tenants.items() for net in _exported(tname, tnode, linked_by_system)),
        key=lambda nt: (nt[0].version, int(nt[0].network_address), nt[0].prefixlen),
    )

    def overlap(tenant: str, mine: Net, theirs: Net, other: str) -> Problem:
        router = intent.tenants[tenant].router
        if tenant == SYSTEM or (router is not None and SYSTEM in router.tenant_interfaces):
            where, field = f"tenant {tenant} logical-router", "interface tenant system"
        else:  # linked by system's router only: the problem is with that line
            where, field = f"tenant {SYSTEM} logical-router", f"interface tenant {tenant}"
        return Problem(
            where,
            field,
            f"subnet {mine} overlaps {theirs} of tenant {other}; both meet in tenant system "
            "(no NAT), so they must not overlap",
            "conflict",
        )

    problems: list[Problem] = []
    open_: list[tuple[Net, str]] = []  # prefixes containing the current one, outermost first
    for net, tname in exported:
        while open_ and (
            open_[-1][0].version != net.version or int(open_[-1][0].broadcast_address) < int(net.network_address)
        ):
            open_.pop()
        for outer, other in open_:
            if other == tname:
                continue  # within one router, check_router reports it
            if only is None or tname in only:
                problems.append(overlap(tname, net, outer, other))
            if only is not None and other in only:
                problems.append(overlap(other, outer, net, tname))
        open_.append((net, tname))
    return problems


# ---- segments and endpoints ---------------------------------------------------------------------


def check_segment(tname: str, sname: str, snode: SegmentNode, router: LogicalRouter | None) -> list[Problem]:
    if not snode.endpoints:
        return []
    problems: list[Problem] = []
    iface = router.interface(sname) if router is not None else None
    subnets = [a.network for a in iface.ip_addresses] if iface is not None else []
    # Addresses as (version, integer): hashing and comparing ipaddress objects dominates at 100k endpoints.
    ranges = [(n.version, int(n.network_address), int(n.broadcast_address)) for n in subnets]
    gateways = {(a.ip.version, int(a.ip)) for a in iface.ip_addresses} if iface is not None else set()
    ips: dict[tuple[int, int], str] = {}
    macs: dict[str, str] = {}
    for eid, ep in snode.endpoints.items():
        for ip in ep.ips:
            key = (ip.version, int(ip))
            other = ips.get(key)
            if other is not None:
                problems.append(
                    _endpoint_problem(tname, sname, eid, "ips", f"{ip} is already used by endpoint {other}")
                )
            ips[key] = eid
            if key in gateways:
                problems.append(_endpoint_problem(tname, sname, eid, "ips", f"{ip} is the segment's gateway address"))
            elif ranges and not any(v == key[0] and lo <= key[1] <= hi for v, lo, hi in ranges):
                nets = ", ".join(str(n) for n in subnets)
                problems.append(
                    _endpoint_problem(tname, sname, eid, "ips", f"{ip} is outside the segment's subnet {nets}")
                )
        if ep.mac is not None:
            other = macs.get(ep.mac)
            if other is not None:
                problems.append(
                    _endpoint_problem(tname, sname, eid, "mac", f"{ep.mac} is already used by endpoint {other}")
                )
            macs[ep.mac] = eid
    return problems


def _endpoint_problem(tname: str, sname: str, eid: str, field: str, message: str) -> Problem:
    return Problem(f"tenant {tname} segment {sname} endpoint {eid}", field, message, "conflict")


def check_claims(intent: Intent, claims: Iterable[Claim]) -> list[Problem]:
    index = intent.claims()
    problems = []
    for claim in sorted(claims):
        holders = index.get(claim, {})
        if len(holders) > 1:
            names = sorted(f"tenant {t} segment {s}" for t, s in holders)
            problems.append(
                Problem(
                    names[1],
                    f"interface-group {claim[0]} vlan {claim[1]}",
                    f"interface-group {claim[0]} vlan {claim[1]} is already claimed by {names[0]}",
                    "conflict",
                )
            )
    return problems


def check_endpoint_ids(intent: Intent) -> list[Problem]:
    seen: dict[str, tuple[str, str]] = {}
    problems = []
    for tname, tnode in intent.tenants.items():
        for sname, snode in tnode.segments.items():
            for eid in snode.endpoints:
                prior = seen.get(eid)
                if prior is not None:
                    problems.append(
                        Problem(
                            f"tenant {tname} segment {sname} endpoint {eid}",
                            "id",
                            f"is already used in tenant {prior[0]} segment {prior[1]}",
                            "conflict",
                        )
                    )
                seen[eid] = (tname, sname)
    return problems


# ---- references ---------------------------------------------------------------------------------


def referrers(intent: Intent, key: Key) -> list[str]:
    """Objects outside key's own subtree that refer to it; deleting key is refused while any remain."""
    refs: list[str] = []
    kind = key.kind
    if kind == Kind.TENANT:
        for tname, tnode in intent.tenants.items():
            if tname == key.tenant or tnode.router is None:
                continue
            if key.tenant in tnode.router.tenant_interfaces:
                refs.append(f"tenant {tname} logical-router interface tenant {key.tenant}")
            refs += [
                f"tenant {tname} logical-router route {r.prefix}"
                for r in tnode.router.routes
                if r.next_hop.tenant == key.tenant
            ]
    elif kind == Kind.SEGMENT:
        router = intent.tenants[key.tenant].router if key.tenant in intent.tenants else None
        if router is not None:
            if router.interface(key.segment) is not None:
                refs.append(f"tenant {key.tenant} logical-router interface segment {key.segment}")
            for plist in router.policy_lists:
                refs += [
                    f"tenant {key.tenant} logical-router policy-list {plist.name} rule {r.seq}"
                    for r in plist.rules
                    if key.segment in (r.src.segment, r.dst.segment)
                ]
    elif kind == Kind.INTERFACE_GROUP:
        for (group, vlan), holders in sorted(intent.claims().items()):
            if group == key.name:
                refs += [f"tenant {t} segment {s} (vlan {vlan})" for t, s in sorted(holders)]
    elif kind == Kind.SWITCH:
        topo = intent.topology
        refs += [f"link {k}" for k, link in sorted(topo.links.items()) if key.name in (link.a.switch, link.b.switch)]
        refs += [
            f"interface-group {g.name}"
            for g in topo.interface_groups.values()
            if any(p.switch == key.name for p in g.members)
        ]
    return refs


def unresolved(intent: Intent) -> list[Problem]:
    """References to interface-groups that are not (yet) in the topology. Neutron may bind a port to a
    host before the fabric knows the host, so these are accepted and reported until they resolve."""
    groups = intent.topology.interface_groups
    problems = []
    for (group, vlan), holders in sorted(intent.claims().items()):
        if group not in groups:
            for tname, sname in sorted(holders):
                problems.append(
                    Problem(
                        f"tenant {tname} segment {sname}",
                        f"interface-group {group} vlan {vlan}",
                        f"interface-group {group} is not in the topology yet",
                    )
                )
    return problems
