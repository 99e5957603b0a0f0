"""The routed leaf-spine underlay: a loopback (VTEP) per leaf, a /31 per cable, ECMP between leaves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
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

    @property
    def leaves(self) -> list[str]:
        return sorted(s for s, r in self.roles.items() if r == Role.LEAF)


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
        spine, leaf = ends.get(Role.SPINE.value), ends.get(Role.LEAF.value)
        if spine is None or leaf is None:
            continue  # validation reports it; compile what is sound
        spine_ip, leaf_ip = names.p2p(alloc[(LINK, key)])
        ports[spine.switch].append(FabricPort(ifname=spine.interface, address=f"{spine_ip}/31", peer=str(leaf_ip)))
        ports[leaf.switch].append(FabricPort(ifname=leaf.interface, address=f"{leaf_ip}/31", peer=str(spine_ip)))
        uplinks[leaf.switch].append((str(spine_ip), leaf.interface))
        downlinks[spine.switch][leaf.switch].append((str(leaf_ip), spine.interface))
    routes: dict[str, tuple[UnderlayRoute, ...]] = {}
    pool = str(names.LOOPBACK_POOL)
    for leaf, hops in uplinks.items():
        routes[leaf] = (UnderlayRoute(prefix=pool, nexthops=tuple(
            UnderlayNextHop(via=via, dev=dev) for via, dev in sorted(hops))),)
    for spine, leaves in downlinks.items():
        routes[spine] = tuple(
            UnderlayRoute(prefix=f"{loopback[leaf]}/32",
                          nexthops=tuple(UnderlayNextHop(via=v, dev=d) for v, d in sorted(hops)))
            for leaf, hops in sorted(leaves.items()) if leaf in loopback
        )
    return Underlay(
        roles=roles,
        index=index,
        loopback=loopback,
        ports={s: tuple(sorted(p, key=lambda fp: fp.ifname)) for s, p in ports.items()},
        routes=routes,
    )
