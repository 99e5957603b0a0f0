"""Segment bridges and FDB: per segment on this switch a bridge and a VXLAN device in it (`reconcile`), and
the forwarding entries the controller knows (`reconcile_fdb`): remote MACs behind their VTEPs, head-end
replication (flood) lists, and MACs pinned to local ports, including each slice's gateway leg.

`fdb_wanted` and `fdb_plan` are pure: desired state and observed links/entries in, writes out."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..fabric.state import OVERLAY_MTU, VXLAN_PORT, SwitchState
from . import devices, netlink
from .kernel import OWNER_ALIAS, ip_text, owned
from .netlink import AF_BRIDGE, NTF_MASTER, NTF_SELF, NUD_NOARP, NUD_PERMANENT, KernelLink, Neigh
from .run import Run, failed_keys
from .writes import KernelWrite, WritePlan, bridge_add, brport_learning, neigh_write, vxlan_add, vxlan_learning

ZERO_MAC = "00:00:00:00:00:00"


def reconcile(run: Run) -> None:
    """Per segment a bridge and a VXLAN device in it; each step batched over all segments."""
    d = run.desired
    sw = run.sw
    if not d.bridges:
        return
    label = {b.vni: f"segment {b.vni} ({b.bridge}/{b.vxlan})" for b in d.bridges}
    brs = devices.ensure_links(
        run,
        sw,
        [
            devices.LinkSpec(
                b.vni, label[b.vni], b.bridge, "bridge", None, functools.partial(bridge_add, sw.name, b.bridge, up=True)
            )
            for b in d.bridges
        ],
    )
    writes: list[KernelWrite] = []
    for vni, (br, new) in brs.items():
        w = devices.attrs_write(
            sw.name, br, run.bridges[vni].bridge, up=True, alias=OWNER_ALIAS, created=new, label=label[vni], key=vni
        )
        if w is not None:
            writes.append(w)
    failed = failed_keys(run.commit(writes))
    bridges = {vni: br for vni, (br, _) in brs.items() if vni not in failed}
    if run.loopback is None:
        for vni in bridges:
            run.error(label[vni], "switch has no loopback: cannot terminate VXLAN")
        return
    local = run.loopback

    def fits(vni: int) -> Callable[[KernelLink], bool]:
        return lambda link: (
            link.info_u32(netlink.IFLA_VXLAN_ID) == vni
            and link.info_be16(netlink.IFLA_VXLAN_PORT) == VXLAN_PORT
            and link.info_ip(netlink.IFLA_VXLAN_LOCAL) == local
        )

    vxs = devices.ensure_links(
        run,
        sw,
        [
            devices.LinkSpec(
                vni,
                label[vni],
                run.bridges[vni].vxlan,
                "vxlan",
                fits(vni),
                functools.partial(
                    vxlan_add,
                    sw.name,
                    run.bridges[vni].vxlan,
                    vni=vni,
                    local=local,
                    port=VXLAN_PORT,
                    learning=0,
                    mtu=OVERLAY_MTU,
                    master=br.index,
                    up=True,
                ),
            )
            for vni, br in bridges.items()
        ],
    )
    writes = []
    for vni, (vx, new) in vxs.items():
        name = run.bridges[vni].vxlan
        if vx.info_u8(netlink.IFLA_VXLAN_LEARNING):
            writes.append(
                vxlan_learning(
                    sw.name,
                    vx.index,
                    0,
                    what=f"{label[vni]}: nolearning",
                    key=vni,
                    record=("changed", f"link {name}: nolearning"),
                )
            )
        w = devices.attrs_write(
            sw.name,
            vx,
            name,
            up=True,
            mtu=OVERLAY_MTU,
            master=bridges[vni].index,
            alias=OWNER_ALIAS,
            created=new,
            label=label[vni],
            key=vni,
        )
        if w is not None:
            writes.append(w)
        # Remote MACs are programmed, never learned: a learned entry could point at a stale VTEP.
        if vx.slave_u8(netlink.IFLA_BRPORT_LEARNING) != 0:
            writes.append(
                brport_learning(
                    sw.name,
                    vx.index,
                    0,
                    what=f"{label[vni]}: bridge port learning off",
                    key=vni,
                    record=None if new else ("changed", f"link {name}: bridge port learning off"),
                )
            )
    run.commit(writes)


# ---- FDB ------------------------------------------------------------------------------------------------


@dataclass
class FdbWanted:
    """The entries a switch wants, by the ifindexes of its devices now."""

    # (bridge ifindex, mac) -> (port ifindex, port name); a local pin beats a remote entry
    master: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    unicast: dict[tuple[int, str], str] = field(default_factory=dict)  # (vxlan ifindex, mac) -> VTEP
    flood: dict[int, set[str]] = field(default_factory=dict)  # vxlan ifindex -> VTEPs
    owned_bridges: set[int] = field(default_factory=set)
    vx_names: dict[int, str] = field(default_factory=dict)  # our VXLAN devices: ifindex -> name
    errors: list[tuple[str, str]] = field(default_factory=list)

    def keep(self, ifindex: int, state: int, flags: int) -> bool:
        """Which entries of an FDB dump to parse: a device's own (NTF_SELF) entries matter only on our VXLAN
        devices; the others are every device's multicast addresses, thousands of them."""
        return not flags & NTF_SELF or ifindex in self.vx_names


def fdb_wanted(desired: SwitchState, links: dict[str, KernelLink], loopback: str | None) -> FdbWanted:
    want = FdbWanted()
    for b in desired.bridges:
        br, vx = links.get(b.bridge), links.get(b.vxlan)
        if br is None or vx is None or not owned(br) or not owned(vx):
            continue  # its own error was reported when making it
        want.owned_bridges.add(br.index)
        want.vx_names[vx.index] = b.vxlan
        want.flood[vx.index] = {ip for ip in map(ip_text, b.flood) if ip != loopback}
        for rm in b.remote_macs:
            vtep = ip_text(rm.vtep)
            if vtep == loopback:
                continue  # ours: pinned by a LocalMac
            mac = rm.mac.lower()
            want.master[(br.index, mac)] = (vx.index, b.vxlan)
            want.unicast[(vx.index, mac)] = vtep
    for lm in desired.local_macs:
        br, dev = links.get(lm.bridge), links.get(lm.dev)
        if br is None or dev is None:
            want.errors.append((f"local mac {lm.mac} on {lm.dev}", f"{lm.bridge if br is None else lm.dev} missing"))
            continue
        mac = lm.mac.lower()
        prev = want.master.get((br.index, mac))
        if prev is not None and prev[0] in want.vx_names:
            # Behind one of our ports *and* announced from another VTEP (an interface group spanning
            # two leaves): deliver locally, and keep no VXLAN entry for it.
            want.unicast.pop((prev[0], mac), None)
        want.master[(br.index, mac)] = (dev.index, lm.dev)
        want.owned_bridges.add(br.index)
    return want


def fdb_plan(netns_name: str | None, want: FdbWanted, entries: Sequence[Neigh]) -> WritePlan:
    """The writes that make the FDB of our bridges and VXLAN devices `want`, given a dump's `entries`."""
    plan = WritePlan(errors=list(want.errors))
    add = plan.writes.append  # once per FDB entry: tens of thousands of times on a large leaf
    have_master: dict[tuple[int, str], Neigh] = {}
    have_self: dict[tuple[int, str], list[Neigh]] = defaultdict(list)
    for e in entries:
        if e.lladdr is None or e.vlan:
            continue
        if e.flags & NTF_SELF:
            if e.ifindex in want.vx_names:
                have_self[(e.ifindex, e.lladdr)].append(e)
        elif e.master in want.owned_bridges:
            have_master[(e.master, e.lladdr)] = e

    # Order: make before break. VXLAN destinations before the bridge entries that point at the VXLAN
    # device (else a new MAC is briefly flooded), removals of bridge entries before their destinations.
    vx_names = want.vx_names
    at = netns_name
    for (vx, mac), vtep in want.unicast.items():
        present = have_self.get((vx, mac))
        if present and len(present) == 1 and present[0].dst == vtep and present[0].state & NUD_PERMANENT:
            continue
        what = f"fdb {mac} {vx_names[vx]} dst {vtep}"
        dsts = {e.dst for e in present or ()}
        for other in sorted(x for x in dsts if x is not None and x != vtep) if len(dsts) > 1 else ():
            add(
                neigh_write(
                    "del",
                    at,
                    family=AF_BRIDGE,
                    ifindex=vx,
                    flags=NTF_SELF,
                    lladdr=mac,
                    dst=other,
                    what=f"remove {mac} dst {other}",
                )
            )
        # NLM_F_REPLACE rewrites the entry's (first) destination in place: no moment without an entry.
        add(
            neigh_write(
                "replace",
                at,
                family=AF_BRIDGE,
                ifindex=vx,
                state=NUD_PERMANENT,
                flags=NTF_SELF,
                lladdr=mac,
                dst=vtep,
                what=what,
                record=("changed" if present else "created", what),
            )
        )
    for vx, vteps in want.flood.items():
        have = {e.dst for e in have_self.get((vx, ZERO_MAC), []) if e.dst is not None}
        for vtep in sorted(vteps - have):
            what = f"flood {vx_names[vx]} -> {vtep}"
            add(
                neigh_write(
                    "append",
                    at,
                    family=AF_BRIDGE,
                    ifindex=vx,
                    state=NUD_PERMANENT,
                    flags=NTF_SELF,
                    lladdr=ZERO_MAC,
                    dst=vtep,
                    what=what,
                    record=("created", what),
                )
            )
    for (br_index, mac), (dev, dev_name) in want.master.items():
        entry = have_master.get((br_index, mac))
        if entry is not None and entry.ifindex == dev and entry.state == NUD_NOARP:
            continue
        what = f"fdb {mac} {dev_name} master static"
        if entry is not None and entry.state == NUD_PERMANENT:
            plan.error(what, "is the address of a bridge port (a local entry): not pinned")
            continue
        add(
            neigh_write(
                "replace",
                at,
                family=AF_BRIDGE,
                ifindex=dev,
                state=NUD_NOARP,
                flags=NTF_MASTER,
                lladdr=mac,
                what=what,
                record=("changed" if entry is not None else "created", what),
            )
        )
    for key, e in have_master.items():
        if key not in want.master and e.state == NUD_NOARP:
            what = f"remove fdb {key[1]} master"
            add(
                neigh_write(
                    "del",
                    at,
                    family=AF_BRIDGE,
                    ifindex=e.ifindex,
                    flags=NTF_MASTER,
                    lladdr=key[1],
                    what=what,
                    record=("removed", what),
                )
            )
    for (vx, mac), present in have_self.items():
        if mac == ZERO_MAC or (vx, mac) in want.unicast:
            continue
        if any(e.state & (NUD_PERMANENT | NUD_NOARP) for e in present):
            what = f"remove fdb {mac} {vx_names[vx]}"
            add(
                neigh_write(
                    "del",
                    at,
                    family=AF_BRIDGE,
                    ifindex=vx,
                    flags=NTF_SELF,
                    lladdr=mac,
                    what=what,
                    record=("removed", what),
                )
            )
    for vx, vteps in want.flood.items():
        have = {e.dst for e in have_self.get((vx, ZERO_MAC), []) if e.dst is not None}
        for vtep in sorted(have - vteps):
            what = f"remove flood {vx_names[vx]} -> {vtep}"
            add(
                neigh_write(
                    "del",
                    at,
                    family=AF_BRIDGE,
                    ifindex=vx,
                    flags=NTF_SELF,
                    lladdr=ZERO_MAC,
                    dst=vtep,
                    what=what,
                    record=("removed", what),
                )
            )
    return plan


def reconcile_fdb(run: Run) -> None:
    sw = run.sw
    want = fdb_wanted(run.desired, sw.links(), run.loopback)
    run.apply(fdb_plan(sw.name, want, sw.rt.neighbours(AF_BRIDGE, keep=want.keep)))
