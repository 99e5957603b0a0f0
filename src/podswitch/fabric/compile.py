"""Compile intent into the desired state of every switch.

`compile(intent, allocation, revision, previous)` is a pure function; `previous` (the last result) only
lets it reuse work: a tenant whose subtree is the very same object as last time (the model shares
untouched subtrees between revisions) keeps its compiled pieces, and only the switches that tenant is on
are re-assembled. A change to one endpoint therefore recompiles one tenant and re-assembles a few leaves;
every other switch keeps its document and ETag.

The shape of the data plane (DESIGN.md §4, docs/data-plane.md):
- per segment on a leaf: a bridge and a VXLAN device; remote MACs static, flooding only to leaves that
  have an attachment of the segment;
- (port, VLAN) attachments of members and endpoints into the segment's bridge;
- per (leaf, tenant) a router slice holding the anycast gateway on every routed segment (asymmetric IRB:
  a leaf with any of the tenant's segments gets all of its routed segments) and every endpoint as a
  static neighbour;
- tenant `system`: a slice on every leaf where it or a tenant linked to it is present, joined to those
  tenants' slices by veth links, and to the other leaves' system slices by a transit network, so that a
  packet arriving from outside on a border leaf reaches a tenant that lives on other leaves.

At 100,000 endpoints on 64 leaves the output has millions of entries. The compiler builds the contract's
own classes (`fabric/state.py`: plain dataclasses, cheap to build, serialized natively by orjson; mypy
checks that what is built is exactly the contract) and serializes each shared piece once: a bridge or a
tenant slice is identical on every leaf that has it, and a switch's document is the JSON of its own small
parts with its pieces' cached JSON spliced in (`_filled`). What outlives a compile is mostly bytes: a
piece keeps its JSON, not its objects, and a leaf's local MACs are kept as JSON per bridge (`Run`), so the
garbage collector does not walk half a million small objects over and over (measured: with them kept
alive, a full compile took twice as long)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import orjson

from ..model import SYSTEM, Intent, LogicalRouter, Role, TenantNode, Topology
from . import formats, names, policy
from .allocate import SEGMENT, TENANT, AllocKey, segment_key
from .delta import SECTIONS, etag_of
from .state import (
    FORMAT,
    GATEWAY_MAC,
    DesiredState,
    FabricPort,
    LocalMac,
    Neighbour,
    RemoteMac,
    SegmentBridge,
    Slice,
    SliceInterface,
    SliceLink,
    SliceRoute,
    SwitchState,
    Sync,
    UnderlayRoute,
    VlanAttachment,
    parse_desired,
    serialize,
)
from .underlay import Underlay
from .underlay import build as build_underlay

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T", SegmentBridge, Slice)


class Piece(Generic[T]):
    """A compiled object shared by several switches, serialized and hashed once: `json` is its JSON, with
    `fills` spliced in (see `_filled`). Only the bytes are kept: hundreds of thousands of small objects
    kept alive would cost the garbage collector more than building them did."""

    __slots__ = ("digest", "json")

    def __init__(self, obj: T, *fills: tuple[str, bytes, bytes]) -> None:
        self.json = _filled(serialize(obj), *fills) if fills else serialize(obj)
        self.digest = hashlib.sha256(self.json).digest()


# A leaf's `local_macs` of one bridge: (bridge, their JSON without the brackets). A bridge belongs to one
# segment, so a switch's list sorted by (bridge, mac, dev) is its runs sorted by bridge, joined.
Run = tuple[str, bytes]


def _runs(macs: Mapping[str, list[LocalMac]]) -> tuple[Run, ...]:
    """The runs of bridge -> its local MACs on one leaf."""
    return tuple(sorted((bridge, serialize(sorted(ms, key=_mac_order))[1:-1]) for bridge, ms in macs.items()))


def _mac_order(m: LocalMac) -> tuple[str, str]:
    return m.mac, m.dev


def _filled(encoded: bytes, *fills: tuple[str, bytes, bytes]) -> bytes:
    return b"".join(_fill_parts(encoded, *((name, empty, (value,)) for name, empty, value in fills)))


def _fill_parts(encoded: bytes, *fills: tuple[str, bytes, Iterable[bytes | memoryview]]) -> list[bytes | memoryview]:
    """`encoded`, the JSON of a contract object, with the value of each field named in `fills` replaced:
    `(name, empty, value)` takes `"name":<empty>` (e.g. `[]`) to `"name":<value>` (already serialized
    JSON, e.g. the join of cached pieces). Fills come in the fields' order. Only a key can be followed by
    `":`, since a string's own quotes are escaped, so the first match after the previous fill is the
    field itself as long as no object nested before it has a key of the same name (true of the fields
    filled here: local_macs, bridges and slices of SwitchState, routes of Slice).
    `_fill_parts` gives the fragments to join, each value given as fragments too: a document is joined once."""
    view = memoryview(encoded)
    parts: list[bytes | memoryview] = []
    start = 0
    for name, empty, value in fills:
        key = b'"%s":' % name.encode()
        at = encoded.index(key + empty, start) + len(key)
        parts.append(view[start:at])
        parts.extend(value)
        start = at + len(empty)
    parts.append(view[start:])
    return parts


def _array(items: Iterable[bytes]) -> list[bytes]:
    """The fragments of a JSON array of already serialized items."""
    parts = [b"["]
    for item in items:
        parts += (item, b",")
    if len(parts) > 1:
        parts.pop()
    parts.append(b"]")
    return parts


_EMPTY = b"[]"
DEFAULT_SYNC = Sync()


@dataclass
class TenantPieces:
    """Everything one tenant contributes, before the system tenant's per-leaf slices are made."""

    tenant: str
    node: TenantNode
    inputs: tuple[object, ...]  # what besides `node` the result depends on (indexes, VNIs)
    index: int
    presence: frozenset[str]  # leaves where the tenant has attachments
    bridges: dict[str, Piece[SegmentBridge]]  # segment -> bridge (shared by every leaf that instantiates it)
    routed: frozenset[str]  # segments with a gateway: instantiated on every leaf the tenant is on
    attached: dict[str, frozenset[str]]  # segment -> leaves with attachments
    attachments: dict[str, list[VlanAttachment]]  # leaf -> its attachments
    # leaf -> LocalMac runs: endpoints behind that leaf's ports, and the anycast gateway MAC pinned on the
    # slice's own bridge port of every routed segment, so a copy of it arriving from another leaf over
    # VXLAN is never learned; `pins` alone on a leaf the tenant is on without attachments (system only).
    local_macs: dict[str, tuple[Run, ...]]
    pins: tuple[Run, ...]
    vni: dict[str, int]
    slice: Piece[Slice] | None = None  # the tenant's router slice (not for system: that one is per leaf)
    linked: bool = False  # has a link to tenant system
    exported: tuple[Net, ...] = ()  # subnets system routes back to this tenant

    def bridges_on(self, leaf: str) -> Iterable[tuple[int, Piece[SegmentBridge]]]:
        """(VNI, bridge) of the bridges the tenant has on `leaf`."""
        here = leaf in self.presence
        for seg, piece in self.bridges.items():
            if (here and seg in self.routed) or leaf in self.attached.get(seg, ()):
                yield self.vni[seg], piece

    def local_macs_on(self, leaf: str) -> tuple[Run, ...]:
        return self.local_macs.get(leaf, self.pins)


# How many earlier (distinct) states of each switch the controller can answer with a delta against.
BASES = 4
_MAC_ITEM = b'{"mac":'  # how each LocalMac's JSON begins (inside a JSON string the quote would be escaped)


@dataclass(frozen=True)
class Base:
    """An earlier state of a switch in outline, enough to answer an agent that holds it with a delta: per list
    of the state (`delta.SECTIONS`) one token per item, or per run of local MACs; digests stand for bridges
    and slices, so the outline keeps none of their megabytes alive."""

    etag: str
    tokens: tuple[tuple[object, ...], ...]


@dataclass
class SwitchEntry:
    """One switch's compiled state: its ETag and what its JSON is made of. The state's JSON (`document`) is
    joined only when an agent first asks for it, and kept for as long as the entry (an unchanged switch keeps
    its entry from revision to revision), so a compile that re-assembles a leaf copies no megabytes."""

    etag: str
    head: bytes  # the JSON of the switch's SwitchState with its bridges and slices left empty
    bridges: tuple[Piece[SegmentBridge], ...]
    slices: tuple[Piece[Slice], ...]
    scalars: tuple[str, str, str | None]  # switch, role, loopback
    # fabric ports, underlay routes and attachments (objects), and the runs of local MACs in `head`
    lists: tuple[tuple[FabricPort, ...], tuple[UnderlayRoute, ...], tuple[VlanAttachment, ...], tuple[Run, ...]]
    _document: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def document(self) -> bytes:
        """The JSON of the switch's SwitchState, joined on first use. (Not a functools.cached_property: before
        Python 3.12 that holds one lock for every entry, so the joins of different switches would queue.) Two
        threads that race both join the same bytes; one result is kept."""
        document = self._document
        if document is None:
            document = self._document = b"".join(self.state())
        return document

    def tokens(self) -> tuple[tuple[object, ...], ...]:
        ports, routes, attachments, local = self.lists
        return (
            ports,
            routes,
            attachments,
            tuple([run for _, run in local]),
            tuple([b.digest for b in self.bridges]),
            tuple([s.digest for s in self.slices]),
        )

    def base(self) -> Base:
        return Base(self.etag, self.tokens())

    def items(self, section: int, tokens: range) -> list[bytes]:
        """The JSON of the items that `tokens` of list `section` stand for."""
        if section < 3:
            objects = self.lists[section]
            return [serialize(objects[i]) for i in tokens]
        if section == 3:
            return [self.lists[3][i][1] for i in tokens]  # a run: its items' JSON, joined by commas
        pieces = self.bridges if section == 4 else self.slices
        return [pieces[i].json for i in tokens]

    def state(self) -> list[bytes | memoryview]:
        """The fragments of the switch's SwitchState JSON."""
        return _fill_parts(
            self.head,
            ("bridges", _EMPTY, _array([b.json for b in self.bridges])),
            ("slices", _EMPTY, _array([s.json for s in self.slices])),
        )


@dataclass
class Compiled:
    revision: int
    allocation: Mapping[AllocKey, int] | None = None
    topology: Topology | None = None
    underlay: Underlay | None = None
    tenants: dict[str, TenantPieces] = field(default_factory=dict)
    system_key: tuple[object, ...] = ()
    system_slices: dict[str, Piece[Slice]] = field(default_factory=dict)
    system_pieces: TenantPieces | None = None
    transit: Piece[SegmentBridge] | None = None
    switches: dict[str, SwitchEntry] = field(default_factory=dict)
    # switch -> outlines of its latest earlier states, newest first (to answer a delta against)
    bases: dict[str, tuple[Base, ...]] = field(default_factory=dict, repr=False)
    # (switch, held state's ETag, hints) -> the delta's JSON, made on the first request for it
    deltas: dict[tuple[str, str, Sync], bytes] = field(default_factory=dict, repr=False, compare=False)

    def delta(self, switch: str, held: str, sync: Sync = DEFAULT_SYNC) -> bytes | None:
        """The JSON of a `delta.DesiredDelta` (in this release's format, with the controller's `sync` hints)
        from the switch's state with ETag `held` (the state's hash, the body's `etag`) to its state at this
        revision; None when that state is unknown here (too old, another controller's, or current)."""
        found = self.deltas.get((switch, held, sync))
        if found is not None:
            return found
        entry = self.switches.get(switch)
        base = next((b for b in self.bases.get(switch, ()) if b.etag == held), None)
        if entry is None or base is None:
            return None
        sections: dict[str, object] = {}
        for at, (name, old, new) in enumerate(zip(SECTIONS, base.tokens, entry.tokens(), strict=True)):
            hunk = _hunk(old, new, _count_macs if name == "local_macs" else None)
            if hunk is not None:
                start, deleted, tokens = hunk
                sections[name] = [[start, deleted, orjson.Fragment(b"[%s]" % b",".join(entry.items(at, tokens)))]]
        switch_, role, loopback = entry.scalars
        delta = {
            "format": FORMAT,
            "revision": self.revision,
            "etag": entry.etag,
            "base": held,
            "sync": sync,
            "state": {"switch": switch_, "role": role, "loopback": loopback, **sections},
        }
        return self.deltas.setdefault((switch, held, sync), orjson.dumps(delta))

    def etag(self, switch: str) -> str | None:
        entry = self.switches.get(switch)
        return entry.etag if entry else None

    def served(self, switch: str, sync: Sync = DEFAULT_SYNC, format: int = FORMAT) -> formats.Served | None:
        """The switch's document in `format` (the current one, or an older one by downgrading) with the
        controller's `sync` hints, its state assembled from cached fragments."""
        entry = self.switches.get(switch)
        if entry is None:
            return None
        document = formats.current(self.revision, entry.etag, entry.document, sync)
        return document if format == FORMAT else formats.downgrade(document, format)

    def document(self, switch: str, sync: Sync = DEFAULT_SYNC, format: int = FORMAT) -> bytes | None:
        """The JSON of `DesiredState` for the switch, as served (see `served`)."""
        served = self.served(switch, sync, format)
        return None if served is None else served.json()

    def desired(self, switch: str) -> DesiredState | None:
        """The document parsed into the contract's types (costs a validation; for tests and tools)."""
        document = self.document(switch)
        return None if document is None else parse_desired(document)

    def state(self, switch: str) -> SwitchState | None:
        desired = self.desired(switch)
        return None if desired is None else desired.state


def _count_macs(run: object) -> int:
    assert isinstance(run, bytes)
    return run.count(_MAC_ITEM)


def _hunk(
    old: tuple[object, ...], new: tuple[object, ...], count: Callable[[object], int] | None
) -> tuple[int, int, range] | None:
    """The one hunk that turns `old` into `new` (their common head and tail kept): (start, deleted, the tokens
    of `new` inserted), counted in items (`count` gives how many a token stands for; default one)."""
    end = min(len(old), len(new))
    head = 0
    while head < end and (old[head] is new[head] or old[head] == new[head]):
        head += 1
    if head == len(old) == len(new):
        return None
    tail = 0
    while tail < end - head and (old[-1 - tail] is new[-1 - tail] or old[-1 - tail] == new[-1 - tail]):
        tail += 1
    if count is None:
        return head, len(old) - tail - head, range(head, len(new) - tail)
    start = sum(map(count, old[:head]))
    deleted = sum(map(count, old[head : len(old) - tail]))
    return start, deleted, range(head, len(new) - tail)


def compile(
    intent: Intent, allocation: Mapping[AllocKey, int], revision: int = 0, previous: Compiled | None = None
) -> Compiled:
    topo = intent.topology
    prev = previous if previous is not None and previous.topology is topo else None
    under = prev.underlay if prev is not None and prev.underlay is not None else None
    if under is None or under.index != _indexes(topo, allocation):
        under = build_underlay(topo, allocation)
        prev = None  # every address may have moved
    out = Compiled(revision=revision, allocation=allocation, topology=topo, underlay=under)
    # Allocation is stable (existing keys keep their numbers), so an identical subtree under an identical
    # allocation compiles to identical pieces; after allocation changed, compare the tenant's numbers.
    same_allocation = prev is not None and prev.allocation is allocation

    changed: set[str] = set()
    for tname, tnode in intent.tenants.items():
        if tname == SYSTEM:
            continue
        cached = prev.tenants.get(tname) if prev is not None else None
        if (
            cached is not None
            and cached.node is tnode
            and (same_allocation or cached.inputs == _tenant_inputs(tname, tnode, allocation))
        ):
            out.tenants[tname] = cached
            continue
        inputs = _tenant_inputs(tname, tnode, allocation)
        out.tenants[tname] = _compile_tenant(tname, tnode, inputs, topo, under, allocation)
        changed.add(tname)

    _compile_system(out, intent.tenants[SYSTEM], topo, under, allocation, prev)
    _assemble(out, under, prev, _touched_leaves(out, prev, changed))
    return out


def _indexes(topo: Topology, alloc: Mapping[AllocKey, int]) -> dict[str, int]:
    return {name: alloc[("switch", name)] for name in topo.switches if ("switch", name) in alloc}


def _tenant_inputs(tname: str, tnode: TenantNode, alloc: Mapping[AllocKey, int]) -> tuple[object, ...]:
    return (alloc.get((TENANT, tname)), tuple(alloc.get((SEGMENT, segment_key(tname, s))) for s in tnode.segments))


def _touched_leaves(out: Compiled, prev: Compiled | None, changed: set[str]) -> set[str] | None:
    """Switches whose state may differ from last time; None means all of them."""
    if prev is None:
        return None
    touched: set[str] = set()
    for tname in changed | (prev.tenants.keys() - out.tenants.keys()):
        for pieces in (prev.tenants.get(tname), out.tenants.get(tname)):
            if pieces is not None:
                touched |= pieces.presence
    for leaf in prev.system_slices.keys() | out.system_slices.keys():
        if prev.system_slices.get(leaf) is not out.system_slices.get(leaf):
            touched.add(leaf)
    return touched


# ---- layer 2: attachments, bridges, MACs ---------------------------------------------------------


def _compile_l2(
    tname: str,
    tnode: TenantNode,
    inputs: tuple[object, ...],
    topo: Topology,
    under: Underlay,
    alloc: Mapping[AllocKey, int],
    routed: frozenset[str],
) -> TenantPieces:
    groups = topo.interface_groups
    leaf_role = Role.LEAF.value
    ports: dict[str, list[tuple[str, str]]] = {}

    def ports_of(group: str) -> list[tuple[str, str]]:
        found = ports.get(group)
        if found is None:
            ig = groups.get(group)
            found = (
                []
                if ig is None
                else sorted(
                    (p.switch, p.interface)
                    for p in ig.members
                    if under.roles.get(p.switch) == leaf_role and p.switch in under.loopback
                )
            )
            ports[group] = found
        return found

    vnis: dict[str, int] = {}
    attached: dict[str, frozenset[str]] = {}
    attach: dict[str, dict[tuple[str, int], VlanAttachment]] = defaultdict(dict)
    local: dict[str, dict[str, list[LocalMac]]] = defaultdict(lambda: defaultdict(list))  # leaf -> bridge -> MACs
    bridges: dict[str, Piece[SegmentBridge]] = {}
    for sname, snode in tnode.segments.items():
        vni = alloc.get((SEGMENT, segment_key(tname, sname)))
        if vni is None:
            continue
        vnis[sname] = vni
        br = names.bridge(vni)
        leaves: set[str] = set()
        claims = {(m.interface_group, m.vlan) for m in snode.members.values()}
        claims.update(
            (e.attachment_point.interface_group, e.attachment_point.vlan)
            for e in snode.endpoints.values()
            if e.attachment_point is not None
        )
        for group, vlan in claims:
            for leaf, port in ports_of(group):
                leaves.add(leaf)
                attach[leaf][(port, vlan)] = VlanAttachment(
                    port, vlan, vni, names.subif(port, vlan), names.shim(port, vlan)
                )
        remote: list[tuple[str, str]] = []
        for ep in snode.endpoints.values():
            ap = ep.attachment_point
            if ep.mac is None or ap is None:
                continue
            where = ports_of(ap.interface_group)
            if not where:
                continue
            # A group on two leaves: one VTEP answers for it (the first leaf); both carry the VLAN.
            remote.append((ep.mac, under.loopback[where[0][0]]))
            for leaf, port in where:
                local[leaf][br].append(LocalMac(ep.mac, br, names.subif(port, ap.vlan)))
        attached[sname] = frozenset(leaves)
        if leaves or sname in routed:
            remote.sort()
            bridges[sname] = Piece(
                SegmentBridge(
                    vni,
                    tname,
                    sname,
                    br,
                    names.vxlan(vni),
                    tuple(under.vtep_order(under.loopback[leaf] for leaf in leaves)),
                    tuple([RemoteMac(mac, vtep) for mac, vtep in remote]),
                )
            )
    presence = frozenset(leaf for leaves in attached.values() for leaf in leaves)
    routed = frozenset(s for s in routed if s in bridges)
    pins = {
        names.bridge(vnis[s]): LocalMac(GATEWAY_MAC, names.bridge(vnis[s]), names.gateway_peer(vnis[s])) for s in routed
    }
    for leaf in presence:
        for bridge, pin in pins.items():
            local[leaf][bridge].append(pin)
    return TenantPieces(
        tenant=tname,
        node=tnode,
        inputs=inputs,
        index=alloc.get((TENANT, tname), 0),
        presence=presence,
        bridges=bridges,
        routed=routed,
        attached=attached,
        attachments={leaf: [a[k] for k in sorted(a)] for leaf, a in attach.items()},
        local_macs={leaf: _runs(local[leaf]) for leaf in presence},
        pins=_runs({bridge: [pin] for bridge, pin in pins.items()}),
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
        out.append(
            SliceInterface(
                names.gateway_if(vni),
                names.gateway_peer(vni),
                names.bridge(vni),
                GATEWAY_MAC,
                tuple([str(a) for a in iface.ip_addresses]),
            )
        )
    return out


def _neighbour_order(n: Neighbour) -> tuple[str, str]:
    return n.dev, n.ip


def _neighbours(pieces: TenantPieces, tnode: TenantNode) -> list[Neighbour]:
    out: list[Neighbour] = []
    for sname in sorted(pieces.routed):
        dev = names.gateway_if(pieces.vni[sname])
        for ep in tnode.segments[sname].endpoints.values():
            if ep.mac is not None:
                out.extend(Neighbour(names.ip_text(ip), ep.mac, dev) for ip in ep.ips)
    out.sort(key=_neighbour_order)
    return out


def _compile_tenant(
    tname: str,
    tnode: TenantNode,
    inputs: tuple[object, ...],
    topo: Topology,
    under: Underlay,
    alloc: Mapping[AllocKey, int],
) -> TenantPieces:
    pieces = _compile_l2(tname, tnode, inputs, topo, under, alloc, _routed_segments(tnode))
    router = tnode.router
    if router is None or not pieces.presence:
        return pieces
    pieces.linked = SYSTEM in router.tenant_interfaces
    system_end = str(names.tenant_link(pieces.index)[0])
    routes = []
    for route in router.routes:
        hop = route.next_hop
        if hop.ip is not None:
            routes.append(SliceRoute(str(route.prefix), (str(hop.ip),)))
        elif hop.tenant == SYSTEM and pieces.linked and route.prefix.version == 4:
            routes.append(SliceRoute(str(route.prefix), (system_end,), names.SYSTEM_LINK))
    routes.sort(key=lambda r: r.prefix)
    pieces.exported = tuple(a.network for i in router.interfaces if i.segment in pieces.routed for a in i.ip_addresses)

    def segment_if(segment: str) -> str | None:
        return names.gateway_if(pieces.vni[segment]) if segment in pieces.routed else None

    pieces.slice = Piece(
        Slice(
            names.tenant_slice(pieces.index),
            tname,
            tuple(_slice_interfaces(pieces, router)),
            (),
            tuple(_neighbours(pieces, tnode)),
            tuple(routes),
            policy.ruleset(router, segment_if, names.SYSTEM_LINK),
        )
    )
    return pieces


# ---- tenant system ------------------------------------------------------------------------------


@dataclass
class _Reach:
    """How the system slice reaches one prefix: through the link where the tenant is on the same leaf,
    else through the transit network to the leaves where it is (ECMP). Both routes are serialized once."""

    presence: frozenset[str]
    link: bytes
    transit: bytes | None


def _compile_system(
    out: Compiled,
    system: TenantNode,
    topo: Topology,
    under: Underlay,
    alloc: Mapping[AllocKey, int],
    prev: Compiled | None,
) -> None:
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
    own = _compile_l2(SYSTEM, system, key[1], topo, under, alloc, _routed_segments(system))
    own.presence = own.presence.union(*(p.presence for p in linked.values()))
    out.system_pieces = own
    if not own.presence:
        return
    leaves = sorted(own.presence, key=under.index.__getitem__)
    transit_dev = names.gateway_if(names.TRANSIT_VNI)
    transit_ip = {leaf: str(names.transit_ip(under.index[leaf])) for leaf in leaves}
    transit_mac = {leaf: names.transit_mac(under.index[leaf]) for leaf in leaves}
    out.transit = Piece(
        SegmentBridge(
            names.TRANSIT_VNI,
            SYSTEM,
            "transit",
            names.bridge(names.TRANSIT_VNI),
            names.vxlan(names.TRANSIT_VNI),
            tuple([under.loopback[leaf] for leaf in leaves]),
            tuple(sorted((RemoteMac(transit_mac[leaf], under.loopback[leaf]) for leaf in leaves), key=lambda r: r.mac)),
        )
    )

    def reach(prefix: str, p: TenantPieces) -> _Reach:
        link = serialize(SliceRoute(prefix, (str(names.tenant_link(p.index)[1]),), names.system_link_if(p.index)))
        via = tuple([transit_ip[leaf] for leaf in leaves if leaf in p.presence])
        return _Reach(p.presence, link, serialize(SliceRoute(prefix, via, transit_dev)) if via else None)

    entries: dict[str, _Reach] = {}
    for p in linked.values():
        for net in p.exported:
            if net.version == 4:
                entries[str(net)] = reach(str(net), p)
    router = system.router or LogicalRouter()
    for route in router.routes:
        prefix, hop = str(route.prefix), route.next_hop
        if prefix in entries:
            continue  # a tenant's own subnet wins over a static route to the same prefix
        if hop.ip is not None:
            static = serialize(SliceRoute(prefix, (str(hop.ip),)))
            entries[prefix] = _Reach(frozenset(), static, static)
        elif hop.tenant in linked and route.prefix.version == 4:
            entries[prefix] = reach(prefix, linked[hop.tenant])
    ordered = [entries[k] for k in sorted(entries)]

    interfaces = _slice_interfaces(own, router)
    neighbours = _neighbours(own, system)

    def segment_if(segment: str) -> str | None:
        return names.gateway_if(own.vni[segment]) if segment in own.routed else None

    nftables = policy.ruleset(router, segment_if, None)
    for leaf in leaves:
        transit_if = SliceInterface(
            transit_dev,
            names.gateway_peer(names.TRANSIT_VNI),
            names.bridge(names.TRANSIT_VNI),
            transit_mac[leaf],
            (f"{transit_ip[leaf]}/{names.TRANSIT_NET.prefixlen}",),
        )
        links = []
        for _, p in sorted(linked.items()):
            if leaf in p.presence:
                sys_end, tenant_end = names.tenant_link(p.index)
                links.append(
                    SliceLink(
                        names.system_link_if(p.index),
                        f"{sys_end}/31",
                        names.tenant_slice(p.index),
                        names.SYSTEM_LINK,
                        f"{tenant_end}/31",
                    )
                )
        peers = [Neighbour(transit_ip[o], transit_mac[o], transit_dev) for o in leaves if o != leaf]
        # Ten thousand routes per leaf: `body` has none, their cached JSON is spliced in.
        body = Slice(
            names.SYSTEM_SLICE,
            SYSTEM,
            (*interfaces, transit_if),
            tuple(links),
            tuple(sorted([*neighbours, *peers], key=_neighbour_order)),
            (),
            nftables,
        )
        routes = [e.link if leaf in e.presence else e.transit for e in ordered]
        out.system_slices[leaf] = Piece(body, ("routes", _EMPTY, b"[%s]" % b",".join(r for r in routes if r)))


# ---- per-switch assembly ------------------------------------------------------------------------


def _assemble(out: Compiled, under: Underlay, prev: Compiled | None, touched: set[str] | None) -> None:
    reuse = {} if prev is None or touched is None else {n: e for n, e in prev.switches.items() if n not in touched}
    by_leaf: dict[str, list[TenantPieces]] = defaultdict(list)
    if touched is None or len(touched) > 8:
        for p in out.tenants.values():
            for leaf in p.presence:
                by_leaf[leaf].append(p)
    else:  # a few leaves: ask each tenant about them rather than every tenant about all of its leaves
        for p in out.tenants.values():
            for leaf in touched:
                if leaf in p.presence:
                    by_leaf[leaf].append(p)
    system = out.system_pieces
    for name in sorted(under.roles):
        if name in reuse:
            out.switches[name] = reuse[name]
            if prev is not None and name in prev.bases:
                out.bases[name] = prev.bases[name]
            continue
        bridges: list[tuple[int, Piece[SegmentBridge]]] = []
        slices: list[Piece[Slice]] = []
        attachments: list[VlanAttachment] = []
        local: list[Run] = []
        parts = sorted(by_leaf.get(name, []), key=lambda p: p.tenant)
        if system is not None and name in out.system_slices:
            parts.append(system)
        for p in parts:
            bridges.extend(p.bridges_on(name))
            attachments.extend(p.attachments.get(name, ()))
            local.extend(p.local_macs_on(name))
            if p.slice is not None:
                slices.append(p.slice)
        if system is not None and name in out.system_slices:
            if out.transit is not None:
                bridges.append((names.TRANSIT_VNI, out.transit))
                transit = names.bridge(names.TRANSIT_VNI)
                pin = LocalMac(names.transit_mac(under.index[name]), transit, names.gateway_peer(names.TRANSIT_VNI))
                local.extend(_runs({transit: [pin]}))
            slices.append(out.system_slices[name])
        bridges.sort(key=lambda vb: vb[0])
        attachments.sort(key=lambda a: (a.port, a.vlan))
        local.sort(key=lambda run: run[0])
        # Local MACs, bridges and slices are left empty here and filled with their cached JSON below.
        head = serialize(
            SwitchState(
                name,
                under.roles[name],
                under.loopback.get(name),
                under.ports.get(name, ()),
                under.routes.get(name, ()),
                tuple(attachments),
            )
        )
        head = _filled(head, ("local_macs", _EMPTY, b"[%s]" % b",".join(run for _, run in local)))
        etag = etag_of(head, [*(b.digest for _, b in bridges), *(s.digest for s in slices)])
        cached = prev.switches.get(name) if prev is not None else None
        if cached is not None and cached.etag == etag:
            out.switches[name] = cached
            out.bases[name] = prev.bases.get(name, ()) if prev is not None else ()
            continue
        out.switches[name] = SwitchEntry(
            etag,
            head,
            tuple([b for _, b in bridges]),
            tuple(slices),
            (name, under.roles[name], under.loopback.get(name)),
            (tuple(under.ports.get(name, ())), tuple(under.routes.get(name, ())), tuple(attachments), tuple(local)),
        )
        if cached is not None and prev is not None:  # an agent may hold the state it replaces: keep its outline
            older = [b for b in prev.bases.get(name, ()) if b.etag not in (cached.etag, etag)]
            out.bases[name] = (cached.base(), *older[: BASES - 1])  # the latest distinct states, newest first
