"""The routed leaf-spine underlay: a loopback (VTEP) per leaf, a /31 per cable, ECMP between leaves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..model import Role, Topology
from . import names
from .allocate import LINK, SWITCH, AllocKey
from .state import FabricPort, UnderlayNextHop, UnderlayRoute


@dataclass(frozen=True)
class Underlay:
    roles: dict[str, str]
    index: dict[str, int]
    loopback: dict[str, str] = field(default_factory=dict)  # leaves only: the VTEP
    ports: dict[str, tuple[FabricPort, ...]] = field(default_factory=dict)
    routes: dict[str, tuple[UnderlayRoute, ...]] = field(default_factory=dict)
    vtep_rank: dict[str, int] = field(default_factory=dict)  # loopback -> sort position (address order)

    def vtep_order(self, vteps: Iterable[str]) -> list[str]:
        """VTEPs in address order (a loopback is the pool base + its switch's index)."""
        return sorted(vteps, key=self.vtep_rank.__getitem__)


def build(topology: Topology, alloc: Mapping[AllocKey, int]) -> Underlay:
    roles = {name: sw.role.value for name, sw in topology.switches.items()}
    index = {name: alloc[(SWITCH, name)] for name in topology.switches if (SWITCH, name) in alloc}
    loopback = {s: str(names.loopback(index[s])) for s, r in roles.items() if r == Role.LEAF and s in index}
    ports: dict[str, list[FabricPort]] = defaultdict(list)
    # leaf -> [(spine address, leaf port)], spine -> {leaf: [(leaf address, spine port)]}
    uplinks: dict[str, list[tuple[str, str]]] = defaultdict(list)
    downlinks: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for key, link in topology.links.items():
        if (LINK, key) not in alloc:
            continue
        ends = {roles.get(link.a.switch): link.a, roles.get(link.b.switch): link.b}
        spine_end, leaf_end = ends.get(Role.SPINE.value), ends.get(Role.LEAF.value)
        if spine_end is None or leaf_end is None:
            continue  # validation reports it; compile what is sound
        spine_ip, leaf_ip = names.p2p(alloc[(LINK, key)])
        ports[spine_end.switch].append(FabricPort(spine_end.interface, f"{spine_ip}/31", str(leaf_ip)))
        ports[leaf_end.switch].append(FabricPort(leaf_end.interface, f"{leaf_ip}/31", str(spine_ip)))
        uplinks[leaf_end.switch].append((str(spine_ip), leaf_end.interface))
        downlinks[spine_end.switch][leaf_end.switch].append((str(leaf_ip), spine_end.interface))
    routes: dict[str, tuple[UnderlayRoute, ...]] = {}
    pool = str(names.LOOPBACK_POOL)
    for leaf, hops in uplinks.items():
        routes[leaf] = (_route(pool, hops),)
    for spine, leaves in downlinks.items():
        routes[spine] = tuple(
            _route(f"{loopback[leaf]}/32", hops)
            for leaf, hops in sorted(leaves.items(), key=lambda lh: index[lh[0]])
            if leaf in loopback
        )
    return Underlay(
        roles=roles,
        index=index,
        loopback=loopback,
        ports={s: tuple(sorted(p, key=lambda fp: fp.ifname)) for s, p in ports.items()},
        routes=routes,
        vtep_rank={lb: index[s] for s, lb in loopback.items()},
    )


def _route(prefix: str, hops: list[tuple[str, str]]) -> UnderlayRoute:
    return UnderlayRoute(prefix, tuple(UnderlayNextHop(via, dev) for via, dev in sorted(hops)))
