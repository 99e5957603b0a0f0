"""The routed leaf-spine underlay: a loopback (VTEP) per leaf, a /31 per cable, ECMP between leaves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Role, Topology
from . import names
from .allocate import LINK, SWITCH, AllocKey
from .state import UNDERLAY_MTU

Obj = dict[str, Any]


@dataclass(frozen=True)
class Underlay:
    roles: dict[str, str]
    index: dict[str, int]
    loopback: dict[str, str] = field(default_factory=dict)  # leaves only: the VTEP
    ports: dict[str, list[Obj]] = field(default_factory=dict)  # FabricPort
    routes: dict[str, list[Obj]] = field(default_factory=dict)  # UnderlayRoute
    vtep_rank: dict[str, int] = field(default_factory=dict)  # loopback -> sort position (address order)

    def vtep_order(self, vteps: Iterable[str]) -> list[str]:
        """VTEPs in address order (a loopback is the pool base + its switch's index)."""
        return sorted(vteps, key=self.vtep_rank.__getitem__)


def build(topology: Topology, alloc: Mapping[AllocKey, int]) -> Underlay:
    roles = {name: sw.role.value for name, sw in topology.switches.items()}
    index = {name: alloc[(SWITCH, name)] for name in topology.switches if (SWITCH, name) in alloc}
    loopback = {s: str(names.loopback(index[s])) for s, r in roles.items() if r == Role.LEAF and s in index}
    ports: dict[str, list[Obj]] = defaultdict(list)
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
        ports[spine.switch].append(_port(spine.interface, spine_ip, leaf_ip))
        ports[leaf.switch].append(_port(leaf.interface, leaf_ip, spine_ip))
        uplinks[leaf.switch].append((str(spine_ip), leaf.interface))
        downlinks[spine.switch][leaf.switch].append((str(leaf_ip), spine.interface))
    routes: dict[str, list[Obj]] = {}
    pool = str(names.LOOPBACK_POOL)
    for leaf, hops in uplinks.items():
        routes[leaf] = [_route(pool, hops)]
    for spine, leaves in downlinks.items():
        routes[spine] = [
            _route(f"{loopback[leaf]}/32", hops)
            for leaf, hops in sorted(leaves.items(), key=lambda lh: index[lh[0]])
            if leaf in loopback
        ]
    return Underlay(
        roles=roles,
        index=index,
        loopback=loopback,
        ports={s: sorted(p, key=lambda fp: fp["ifname"]) for s, p in ports.items()},
        routes=routes,
        vtep_rank={lb: index[s] for s, lb in loopback.items()},
    )


def _port(ifname: str, address: object, peer: object) -> Obj:
    return {"ifname": ifname, "address": f"{address}/31", "peer": str(peer), "mtu": UNDERLAY_MTU}


def _route(prefix: str, hops: list[tuple[str, str]]) -> Obj:
    return {"prefix": prefix, "nexthops": [{"via": via, "dev": dev} for via, dev in sorted(hops)]}
