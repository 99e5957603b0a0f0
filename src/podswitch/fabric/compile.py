"""Compile intent into the desired state of every switch.

`compile(intent, allocation, revision, previous)` is a pure function; `previous` (the last result) only
lets it reuse work: a tenant whose subtree is the very same object as last time (the model shares
untouched subtrees between revisions) keeps its compiled pieces, and a switch whose pieces are all the
same keeps its state, JSON and ETag. A change to one endpoint therefore recompiles one tenant and
re-assembles only the leaves that tenant is on.

The shape of the data plane (DESIGN.md §4):
- per segment on a leaf: a bridge and a VXLAN device; remote MACs static, flooding only to leaves that
  have an attachment of the segment;
- (port, VLAN) attachments of members and endpoints into the segment's bridge;
- per (leaf, tenant) a router slice holding the anycast gateway on every routed segment (asymmetric IRB:
  a leaf with any of the tenant's segments gets all of its routed segments) and every endpoint as a
  static neighbour;
- tenant `system`: a slice on every leaf where it or a tenant linked to it is present, joined to those
  tenants' slices by veth links, and to the other leaves' system slices by a transit network, so that a
  packet arriving from outside on a border leaf reaches a tenant that lives on other leaves.

Bridges and tenant slices are identical on every leaf, so each is built and serialized once and shared."""

from __future__ import annotations

import hashlib
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import SYSTEM, Intent, LogicalRouter, Role, TenantNode, Topology
from . import names, policy
from .allocate import SEGMENT, TENANT, AllocKey, segment_key
from .state import (
    GATEWAY_MAC,
    DesiredState,
    LocalMac,
    Neighbour,
    RemoteMac,
    SegmentBridge,
    Slice,
    SliceInterface,
    SliceLink,
    SliceRoute,
    State,
    SwitchState,
    VlanAttachment,
)
from .underlay import Underlay
from .underlay import build as build_underlay

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class Piece:
    """A compiled object shared by several switches, serialized and hashed once."""

    __slots__ = ("digest", "json", "obj")

    def __init__(self, obj: State) -> None:
        self.obj = obj
        self.json = obj.model_dump_json().encode()
        self.digest = hashlib.sha256(self.json).digest()


@dataclass
class TenantPieces:
    """Everything one tenant contributes, before the system tenant's per-leaf slices are made."""

    tenant: str
    node: TenantNode
    inputs: tuple  # what besides `node` the result depends on (indexes, VNIs, topology identity)
    index: int
    presence: frozenset[str]  # leaves where the tenant has attachments
    bridges: dict[str, Piece]  # segment -> bridge (shared by every leaf that instantiates it)
    routed: frozenset[str]  # segments with a gateway: instantiated on every leaf the tenant is on
    attached: dict[str, frozenset[str]]  # segment -> leaves with attachments
    attachments: dict[str, tuple[VlanAttachment, ...]]  # leaf ->
    local_macs: dict[str, tuple[LocalMac, ...]]  # leaf -> endpoints behind that leaf's ports
    vni: dict[str, int]
    slice: Piece | None = None  # the tenant's router slice (not for system: that one is per leaf)
    linked: bool = False  # has a link to tenant system
    exported: tuple[Net, ...] = ()  # subnets system routes back to this tenant

    def bridges_on(self, leaf: str, presence: frozenset[str] | None = None) -> Iterable[tuple[str, Piece]]:
        here = leaf in (presence if presence is not None else self.presence)
        for seg, piece in self.bridges.items():
            if (seg in self.routed and here) or leaf in self.attached.get(seg, ()):
                yield seg, piece


@dataclass
class SwitchEntry:
    state: SwitchState
    key: tuple
    etag: str
    document: bytes


@dataclass
class Compiled:
    revision: int
    topology: Topology | None = None
    underlay: Underlay | None = None
    tenants: dict[str, TenantPieces] = field(default_factory=dict)
    system_key: tuple = ()
    system_slices: dict[str, Piece] = field(default_factory=dict)
    system_pieces: TenantPieces | None = None
    transit: Piece | None = None
    switches: dict[str, SwitchEntry] = field(default_factory=dict)

    def state(self, switch: str) -> SwitchState | None:
        entry = self.switches.get(switch)
        return entry.state if entry else None

    def etag(self, switch: str) -> str | None:
        entry = self.switches.get(switch)
        return entry.etag if entry else None

    def document(self, switch: str) -> bytes | None:
        """The JSON of `DesiredState` for the switch (assembled from cached fragments)."""
        entry = self.switches.get(switch)
        if entry is None:
            return None
        return (b'{"revision":%d,"etag":"%s","state":' % (self.revision, entry.etag.encode())
                + entry.document + b"}")

    def desired(self, switch: str) -> DesiredState | None:
        entry = self.switches.get(switch)
        if entry is None:
            return None
        return DesiredState.model_construct(revision=self.revision, etag=entry.etag, state=entry.state)


def compile(intent: Intent, allocation: Mapping[AllocKey, int], revision: int = 0,
            previous: Compiled | None = None) -> Compiled:
    topo = intent.topology
    prev = previous if previous is not None and previous.topology is topo else None
    under = prev.underlay if prev is not None and prev.underlay is not None else None
    if under is None or under.index != _indexes(topo, allocation):
        under = build_underlay(topo, allocation)
        prev = None  # every address may have moved
    out = Compiled(revision=revision, topology=topo, underlay=under)

    for tname, tnode in intent.tenants.items():
        if tname == SYSTEM:
            continue
        inputs = _tenant_inputs(tname, tnode, allocation)
        cached = prev.tenants.get(tname) if prev is not None else None
        if cached is not None and cached.node is tnode and cached.inputs == inputs:
            out.tenants[tname] = cached
        else:
            out.tenants[tname] = _compile_tenant(tname, tnode, inputs, topo, under, allocation)

    _compile_system(out, intent.tenants[SYSTEM], topo, under, allocation, prev)
    _assemble(out, under, prev)
    return out


def _indexes(topo: Topology, alloc: Mapping[AllocKey, int]) -> dict[str, int]:
    return {name: alloc[("switch", name)] for name in topo.switches if ("switch", name) in alloc}


def _tenant_inputs(tname: str, tnode: TenantNode, alloc: Mapping[AllocKey, int]) -> tuple:
    return (alloc.get((TENANT, tname)),
            tuple(alloc.get((SEGMENT, segment_key(tname, s))) for s in tnode.segments))


# ---- layer 2: attachments, bridges, MACs ---------------------------------------------------------

def _compile_l2(tname: str, tnode: TenantNode, inputs: tuple, topo: Topology, under: Underlay,
                alloc: Mapping[AllocKey, int], routed: frozenset[str]) -> TenantPieces:
    groups = topo.interface_groups
    vnis: dict[str, int] = {}
    attached: dict[str, set[str]] = {}
    attach: dict[str, dict[tuple[str, int], VlanAttachment]] = defaultdict(dict)
    local: dict[str, list[LocalMac]] = defaultdict(list)
    bridges: dict[str, Piece] = {}
    leaf_role = Role.LEAF.value
    for sname, snode in tnode.segments.items():
        vni = alloc.get((SEGMENT, segment_key(tname, sname)))
        if vni is None:
            continue
        vnis[sname] = vni
        br = names.bridge(vni)
        leaves: set[str] = set()

        def ports_of(group: str) -> list[tuple[str, str]]:
            ig = groups.get(group)
            if ig is None:
                return []
            return [(p.switch, p.interface) for p in ig.members
                    if under.roles.get(p.switch) == leaf_role and p.switch in under.loopback]

        claims = {(m.interface_group, m.vlan) for m in snode.members.values()}
        claims.update((e.attachment_point.interface_group, e.attachment_point.vlan)
                      for e in snode.endpoints.values() if e.attachment_point is not None)
        for group, vlan in claims:
            for leaf, port in ports_of(group):
                leaves.add(leaf)
                attach[leaf][(port, vlan)] = VlanAttachment(
                    port=port, vlan=vlan, vni=vni, subif=names.subif(port, vlan), shim=names.shim(port, vlan))
        remote: list[RemoteMac] = []
        for ep in snode.endpoints.values():
            ap = ep.attachment_point
            if ep.mac is None or ap is None:
                continue
            where = ports_of(ap.interface_group)
            if not where:
                continue
            # A group on two leaves: one VTEP answers for it (the first leaf); both carry the VLAN.
            remote.append(RemoteMac(mac=ep.mac, vtep=under.loopback[min(where)[0]]))
            for leaf, port in where:
                local[leaf].append(LocalMac(mac=ep.mac, bridge=br, dev=names.subif(port, ap.vlan)))
        attached[sname] = frozenset(leaves)
        if leaves or sname in routed:
            bridges[sname] = Piece(SegmentBridge(
                vni=vni, tenant=tname, segment=sname, bridge=br, vxlan=names.vxlan(vni),
                flood=tuple(sorted({under.loopback[leaf] for leaf in leaves},
                                   key=lambda a: ipaddress.ip_address(a))),
                remote_macs=tuple(sorted(remote, key=lambda r: r.mac)),
            ))
    presence = frozenset(leaf for leaves in attached.values() for leaf in leaves)
    return TenantPieces(
        tenant=tname, node=tnode, inputs=inputs, index=alloc.get((TENANT, tname), 0), presence=presence,
        bridges=bridges, routed=frozenset(s for s in routed if s in bridges), attached=attached,
        attachments={leaf: tuple(a[k] for k in sorted(a)) for leaf, a in attach.items()},
        local_macs={leaf: tuple(sorted(m, key=lambda x: (x.bridge, x.mac, x.dev))) for leaf, m in local.items()},
        vni=vnis,
    )


def _routed_segments(tnode: TenantNode) -> frozenset[str]:
    router = tnode.router
    if router is None:
        return frozenset()
    return frozenset(i.segment for i in router.interfaces if i.ip_addresses and i.segment in tnode.segments)


def _linked(tname: str, tnode: TenantNode, system: TenantNode) -> bool:
    own = tnode.router is not None and SYSTEM in tnode.router.tenant_interfaces
    theirs = system.router is not None and tname in system.router.tenant_interfaces
    return own or theirs


# ---- layer 3: router slices ----------------------------------------------------------------------

def _slice_interfaces(pieces: TenantPieces, router: LogicalRouter) -> list[SliceInterface]:
    out = []
    for iface in router.interfaces:
        if iface.segment not in pieces.routed:
            continue
        vni = pieces.vni[iface.segment]
        out.append(SliceInterface(
            ifname=names.gateway_if(vni), peer=names.gateway_peer(vni), bridge=names.bridge(vni),
            mac=GATEWAY_MAC, addresses=tuple(str(a) for a in iface.ip_addresses)))
    return out


def _neighbours(pieces: TenantPieces, tnode: TenantNode) -> list[Neighbour]:
    out = []
    for sname in sorted(pieces.routed):
        dev = names.gateway_if(pieces.vni[sname])
        for ep in tnode.segments[sname].endpoints.values():
            if ep.mac is not None:
                out.extend(Neighbour(ip=str(ip), mac=ep.mac, dev=dev) for ip in ep.ips)
    return out


def _static_routes(router: LogicalRouter, via_tenant: Any) -> list[SliceRoute]:
    """Routes from the router's configuration. `via_tenant(name, prefix)` resolves next-hop tenants."""
    out = []
    for route in router.routes:
        hop = route.next_hop
        if hop.ip is not None:
            out.append(SliceRoute(prefix=str(route.prefix), via=(str(hop.ip),)))
        elif hop.tenant is not None:
            resolved = via_tenant(hop.tenant, route.prefix)
            if resolved is not None:
                out.append(resolved)
    return out


def _compile_tenant(tname: str, tnode: TenantNode, inputs: tuple, topo: Topology, under: Underlay,
                    alloc: Mapping[AllocKey, int]) -> TenantPieces:
    pieces = _compile_l2(tname, tnode, inputs, topo, under, alloc, _routed_segments(tnode))
    router = tnode.router
    if router is None or not pieces.presence:
        return pieces
    pieces.linked = SYSTEM in router.tenant_interfaces
    system_end, _ = names.tenant_link(pieces.index)

    def via_system(peer: str, prefix: Net) -> SliceRoute | None:
        if peer != SYSTEM or not pieces.linked or prefix.version != 4:
            return None
        return SliceRoute(prefix=str(prefix), via=(str(system_end),), dev=names.SYSTEM_LINK)

    interfaces = _slice_interfaces(pieces, router)
    routes = _static_routes(router, via_system)
    pieces.exported = tuple(a.network for i in router.interfaces if i.segment in pieces.routed
                            for a in i.ip_addresses)

    def segment_if(segment: str) -> str | None:
        return names.gateway_if(pieces.vni[segment]) if segment in pieces.routed else None

    pieces.slice = Piece(Slice(
        name=names.tenant_slice(pieces.index), tenant=tname, interfaces=tuple(interfaces),
        neighbours=tuple(sorted(_neighbours(pieces, tnode), key=lambda n: (n.dev, n.ip))),
        routes=tuple(sorted(routes, key=lambda r: r.prefix)),
        nftables=policy.ruleset(router, segment_if, names.SYSTEM_LINK),
    ))
    return pieces


# ---- tenant system ------------------------------------------------------------------------------

def _compile_system(out: Compiled, system: TenantNode, topo: Topology, under: Underlay,
                    alloc: Mapping[AllocKey, int], prev: Compiled | None) -> None:
    linked = {t: p for t, p in out.tenants.items() if p.presence and (p.linked or _linked(t, p.node, system))}
    key = (
        system,
        _tenant_inputs(SYSTEM, system, alloc),
        tuple((t, p.index, p.presence, p.exported) for t, p in sorted(linked.items())),
    )
    if prev is not None and prev.system_key == key:
        out.system_key = prev.system_key
        out.system_slices = prev.system_slices
        out.system_pieces = prev.system_pieces
        out.transit = prev.transit
        return
    out.system_key = key
    routed = _routed_segments(system)
    own = _compile_l2(SYSTEM, system, key[1], topo, under, alloc, routed)
    presence = own.presence.union(*(p.presence for p in linked.values()))
    own.presence = frozenset(presence)
    out.system_pieces = own
    if not presence:
        return
    leaves = sorted(presence)
    out.transit = Piece(SegmentBridge(
        vni=names.TRANSIT_VNI, tenant=SYSTEM, segment="transit", bridge=names.bridge(names.TRANSIT_VNI),
        vxlan=names.vxlan(names.TRANSIT_VNI),
        flood=tuple(sorted((under.loopback[leaf] for leaf in leaves), key=ipaddress.ip_address)),
        remote_macs=tuple(sorted((RemoteMac(mac=names.transit_mac(under.index[leaf]), vtep=under.loopback[leaf])
                                  for leaf in leaves), key=lambda r: r.mac)),
    ))
    router = system.router or LogicalRouter()
    interfaces = _slice_interfaces(own, router)
    neighbours = _neighbours(own, system)
    # Which leaves can hand a tenant's traffic to it: where the tenant itself is.
    owners: dict[Net, list[tuple[str, int]]] = {}
    for p in linked.values():
        for net in p.exported:
            owners.setdefault(net, []).extend((leaf, p.index) for leaf in p.presence)
    tenant_of = {p.index: t for t, p in linked.items()}
    for leaf in leaves:
        idx = under.index[leaf]
        transit_dev = names.gateway_if(names.TRANSIT_VNI)
        leaf_ifaces = [*interfaces, SliceInterface(
            ifname=transit_dev, peer=names.gateway_peer(names.TRANSIT_VNI),
            bridge=names.bridge(names.TRANSIT_VNI), mac=names.transit_mac(idx),
            addresses=(f"{names.transit_ip(idx)}/{names.TRANSIT_NET.prefixlen}",))]
        links = []
        for _, p in sorted(linked.items()):
            if leaf in p.presence:
                sys_end, tenant_end = names.tenant_link(p.index)
                links.append(SliceLink(ifname=names.system_link_if(p.index), address=f"{sys_end}/31",
                                       peer_slice=names.tenant_slice(p.index), peer_ifname=names.SYSTEM_LINK,
                                       peer_address=f"{tenant_end}/31"))
        peers = [Neighbour(ip=str(names.transit_ip(under.index[o])), mac=names.transit_mac(under.index[o]),
                           dev=transit_dev) for o in leaves if o != leaf]

        def to_tenant(net: Net, holders: list[tuple[str, int]], leaf: str = leaf,
                      transit_dev: str = transit_dev) -> SliceRoute | None:
            here = [i for lf, i in holders if lf == leaf]
            if here:
                return SliceRoute(prefix=str(net), via=(str(names.tenant_link(here[0])[1]),),
                                  dev=names.system_link_if(here[0]))
            via = sorted({str(names.transit_ip(under.index[lf])) for lf, _ in holders},
                         key=ipaddress.ip_address)
            return SliceRoute(prefix=str(net), via=tuple(via), dev=transit_dev) if via else None

        routes: dict[str, SliceRoute] = {}
        for net, holders in owners.items():
            if net.version == 4:
                r = to_tenant(net, holders)
                if r is not None:
                    routes[r.prefix] = r

        def via_tenant(peer: str, prefix: Net) -> SliceRoute | None:
            p = out.tenants.get(peer)
            if p is None or peer not in tenant_of.values() or prefix.version != 4:
                return None
            return to_tenant(prefix, [(lf, p.index) for lf in p.presence])

        for r in _static_routes(router, via_tenant):
            routes.setdefault(r.prefix, r)

        def segment_if(segment: str) -> str | None:
            return names.gateway_if(own.vni[segment]) if segment in own.routed else None

        out.system_slices[leaf] = Piece(Slice(
            name=names.SYSTEM_SLICE, tenant=SYSTEM, interfaces=tuple(leaf_ifaces), links=tuple(links),
            neighbours=tuple(sorted([*neighbours, *peers], key=lambda n: (n.dev, n.ip))),
            routes=tuple(sorted(routes.values(), key=lambda r: r.prefix)),
            nftables=policy.ruleset(router, segment_if, None),
        ))


# ---- per-switch assembly ------------------------------------------------------------------------

def _assemble(out: Compiled, under: Underlay, prev: Compiled | None) -> None:
    by_leaf: dict[str, list[TenantPieces]] = defaultdict(list)
    for p in out.tenants.values():
        for leaf in p.presence:
            by_leaf[leaf].append(p)
    system = out.system_pieces
    for name in sorted(under.roles):
        role = under.roles[name]
        bridges: list[Piece] = []
        slices: list[Piece] = []
        attachments: list[VlanAttachment] = []
        local: list[LocalMac] = []
        tenants = sorted(by_leaf.get(name, []), key=lambda p: p.tenant)
        for p in tenants:
            bridges.extend(piece for _, piece in p.bridges_on(name))
            attachments.extend(p.attachments.get(name, ()))
            local.extend(p.local_macs.get(name, ()))
            local.extend(_gateway_pins(p, name))
            if p.slice is not None:
                slices.append(p.slice)
        if system is not None and name in out.system_slices:
            bridges.extend(piece for _, piece in system.bridges_on(name))
            attachments.extend(system.attachments.get(name, ()))
            local.extend(system.local_macs.get(name, ()))
            local.extend(_gateway_pins(system, name))
            if out.transit is not None:
                bridges.append(out.transit)
                vni = names.TRANSIT_VNI
                local.append(LocalMac(mac=names.transit_mac(under.index[name]), bridge=names.bridge(vni),
                                      dev=names.gateway_peer(vni)))
            slices.append(out.system_slices[name])
        bridges.sort(key=lambda piece: piece.obj.vni)  # type: ignore[attr-defined]
        attachments.sort(key=lambda a: (a.port, a.vlan))
        local.sort(key=lambda m: (m.bridge, m.mac, m.dev))
        key = (
            role, under.loopback.get(name), under.ports.get(name, ()), under.routes.get(name, ()),
            tuple(b.digest for b in bridges), tuple(s.digest for s in slices), tuple(attachments), tuple(local),
        )
        cached = prev.switches.get(name) if prev is not None else None
        if cached is not None and cached.key == key:
            out.switches[name] = cached
            continue
        head = SwitchState.model_construct(
            switch=name, role=role, loopback=under.loopback.get(name),
            fabric_ports=under.ports.get(name, ()), underlay_routes=under.routes.get(name, ()),
            bridges=(), attachments=tuple(attachments), local_macs=tuple(local), slices=(),
        )
        head_json = head.model_dump_json(exclude={"bridges", "slices"}).encode()
        document = (head_json[:-1] + b',"bridges":[' + b",".join(b.json for b in bridges)
                    + b'],"slices":[' + b",".join(s.json for s in slices) + b"]}")
        digest = hashlib.sha256(head_json)
        for piece in (*bridges, *slices):
            digest.update(piece.digest)
        state = head.model_copy(update={
            "bridges": tuple(b.obj for b in bridges), "slices": tuple(s.obj for s in slices)})
        out.switches[name] = SwitchEntry(state=state, key=key, etag=digest.hexdigest()[:32], document=document)


def _gateway_pins(p: TenantPieces, leaf: str) -> list[LocalMac]:
    """Pin the anycast gateway MAC on the slice's own bridge port, so a copy of it arriving from another
    leaf over VXLAN is never learned."""
    if leaf not in p.presence and p.tenant != SYSTEM:
        return []
    return [LocalMac(mac=GATEWAY_MAC, bridge=names.bridge(p.vni[s]), dev=names.gateway_peer(p.vni[s]))
            for s in sorted(p.routed)]
