"""Which concerns a change touches: the difference between the state the kernel was last made equal to
and the next one decides which reads and writes a reconcile can skip.

A pushed change (one endpoint, one route) touches a few objects of one switch, but a full reconcile re-reads
every link, address, route, neighbour, FDB entry and nftables table of the switch and of each of its slice
namespaces: on a leaf with a handful of tenants that is most of the time between a PUT and the first packet.
Skipping a concern is safe only when its whole input is unchanged and the kernel still is as the last clean
run left it; the second is what the periodic full run (drift repair) re-establishes, so a scoped run never
replaces it. Anything this module cannot prove unchanged is in scope."""

from __future__ import annotations

from dataclasses import dataclass

from ..fabric.state import Slice, SwitchState


@dataclass(frozen=True)
class Scope:
    """What one reconcile does. `slices`: the slices whose namespace, gateway legs, addresses, neighbours,
    routes and nftables are made right; None means every slice, and stale slice namespaces removed too."""

    links: bool = True  # sysctls, stale devices, lo, fabric ports, underlay addresses and routes
    bridges: bool = True  # segment bridges and their VXLAN devices
    attachments: bool = True  # VLAN attachments, their veths and tc programs
    slices: frozenset[str] | None = None
    fdb: bool = True  # remote and local MACs, flood lists

    @property
    def full(self) -> bool:
        return self == FULL

    def describe(self) -> str:
        if self.full:
            return "full"
        parts = [name for name in ("links", "bridges", "attachments", "fdb") if getattr(self, name)]
        if self.slices is None:
            parts.append("slices")
        elif self.slices:
            parts.append("slices " + ",".join(sorted(self.slices)))
        return "+".join(parts) or "nothing"


FULL = Scope()
NOTHING = Scope(links=False, bridges=False, attachments=False, slices=frozenset(), fdb=False)


def device_names(state: SwitchState) -> set[str]:
    """The switch namespace's devices that are podswitch's to make (and to remove once no longer named)."""
    names = {b.bridge for b in state.bridges} | {b.vxlan for b in state.bridges}
    names |= {a.subif for a in state.attachments} | {a.shim for a in state.attachments}
    names |= {i.peer for s in state.slices for i in s.interfaces}
    return names


def scope(before: SwitchState | None, after: SwitchState) -> Scope:
    """The concerns a reconcile from `before` (what the kernel was last made equal to, without an error;
    None: unknown) to `after` must run."""
    if before is None or (before.switch, before.role, before.loopback) != (after.switch, after.role, after.loopback):
        return FULL  # the loopback is every VXLAN device's source: nothing can be assumed
    links = (
        before.fabric_ports != after.fabric_ports
        or before.underlay_routes != after.underlay_routes
        or not device_names(before) <= device_names(after)  # something to remove
    )
    bridges = [(b.vni, b.bridge, b.vxlan) for b in before.bridges] != [
        (b.vni, b.bridge, b.vxlan) for b in after.bridges
    ]
    attachments = bridges or before.attachments != after.attachments
    old = {s.name: s for s in before.slices}
    new = {s.name: s for s in after.slices}
    slices: frozenset[str] | None
    if old.keys() != new.keys() or any(s.links != old[s.name].links for s in after.slices):
        slices = None  # a slice comes or goes, or a link between two slices: both ends, and stale namespaces
    else:
        slices = frozenset(name for name, s in new.items() if s != old[name])
    fdb = (
        bridges
        or before.local_macs != after.local_macs
        or before.bridges != after.bridges  # remote MACs and flood lists
        or _legs(before.slices) != _legs(after.slices)  # gateway legs' MACs are pinned in their bridges
    )
    return Scope(links=links, bridges=bridges, attachments=attachments, slices=slices, fdb=fdb)


def _legs(slices: tuple[Slice, ...]) -> list[tuple[str, str, str]]:
    return [(i.peer, i.bridge, i.mac) for s in slices for i in s.interfaces]
