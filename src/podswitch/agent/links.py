"""Links and addresses: the switch's own devices (`lo`, the fabric ports), its sysctls, the addresses and
routes podswitch marks (the underlay here; the router slices use the same functions for theirs), and the
removal of devices podswitch made that are no longer desired.

The `*_plan`, `switch_sysctls`, `stale_links` and `underlay_routes` functions are pure: desired and
observed state in, writes (or wanted objects) out."""

from __future__ import annotations

import ipaddress
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ..fabric.state import SwitchState
from . import devices, netns
from .kernel import PROTO, Namespace, ip_text, net_text, owned, where
from .netlink import (
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    RT_SCOPE_LINK,
    RT_SCOPE_NOWHERE,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTN_UNICAST,
    Addr,
    KernelLink,
    KernelRoute,
)
from .run import Run
from .scope import device_names
from .writes import NetlinkWrite, Record, SysctlWrite, WritePlan, addr_write, route_write

SWITCH_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    # Underlay ECMP is asymmetric and slices route between each other: strict reverse-path checks would
    # drop legitimate packets. (The effective value is max(all, interface), hence both and per port.)
    "net/ipv4/conf/all/rp_filter": "0",
    "net/ipv4/conf/default/rp_filter": "0",
    # A dead uplink's routes stay in the FIB but must not be used: ECMP then hashes onto the live ones.
    "net/ipv4/conf/all/ignore_routes_with_linkdown": "1",
}


def reconcile(run: Run) -> None:
    """The switch namespace's sysctls, stale devices, `lo` and fabric ports, addresses and underlay routes."""
    sw = run.sw
    d = run.desired
    with run.guard("sysctl"):
        reconcile_sysctls(run, sw, switch_sysctls(d, sw.links(), ipv6=os.path.exists("/proc/sys/net/ipv6")))
    with run.guard("stale links"):
        devices.delete(run, sw, stale_links(d, sw.links()), "no longer desired")
    addrs: dict[str, list[str]] = {}
    with run.guard("lo"):
        devices.set_now(run, sw, sw.link("lo"), "lo", up=True)
        if run.loopback:
            addrs["lo"] = [f"{run.loopback}/32"]
    for port in d.fabric_ports:
        with run.guard(f"fabric port {port.ifname}"):
            link = sw.link(port.ifname)
            if link is None:
                raise LookupError("no such device (not cabled?)")
            devices.set_now(run, sw, link, port.ifname, up=True, mtu=port.mtu)
            addrs[port.ifname] = [port.address]
    with run.guard("addresses"):
        sync_addresses(run, sw, addrs)
    with run.guard("underlay routes"):
        wanted, errors = underlay_routes(d, sw.links())
        for what, why in errors:
            run.error(what, why)
        sync_routes(run, sw, wanted)


# ---- sysctls --------------------------------------------------------------------------------------------


def switch_sysctls(desired: SwitchState, links: dict[str, KernelLink], *, ipv6: bool) -> dict[str, str]:
    wanted = dict(SWITCH_SYSCTLS)
    if ipv6:
        # The switch namespace carries only layer 2 and the IPv4 underlay. Left on, IPv6 gives each of
        # thousands of attachment veths a link-local address, routes and multicast state: measured 3x
        # the build time and a third of every reconcile at 4,800 attachments.
        wanted["net/ipv6/conf/default/disable_ipv6"] = "1"
        wanted["net/ipv6/conf/all/disable_ipv6"] = "1"
    for port in desired.fabric_ports:
        if port.ifname in links:
            wanted[f"net/ipv4/conf/{port.ifname}/rp_filter"] = "0"
    return wanted


def sysctl_plan(netns_name: str | None, wanted: dict[str, str], current: dict[str, str | None]) -> WritePlan:
    """Write only the values that differ; a key the kernel does not have is an error."""
    plan = WritePlan()
    for key, value in wanted.items():
        have = current.get(key)
        if have is None:
            plan.error(f"sysctl {key}{where(netns_name)}", "no such sysctl")
        elif have != value:
            plan.add(
                SysctlWrite(
                    netns=netns_name,
                    sysctl=key,
                    value=value,
                    what=f"sysctl {key}{where(netns_name)}",
                    record=("changed", f"sysctl {key}={value}{where(netns_name)}"),
                )
            )
    return plan


def reconcile_sysctls(run: Run, ns: Namespace, wanted: dict[str, str]) -> None:
    run.apply(sysctl_plan(ns.name, wanted, netns.sysctl_get_many(ns.name, list(wanted))))


# ---- devices that are no longer desired -----------------------------------------------------------------


def stale_links(desired: SwitchState, links: dict[str, KernelLink]) -> list[KernelLink]:
    """Devices of ours in the switch namespace that the desired state no longer names."""
    wanted = device_names(desired)
    return [link for link in links.values() if owned(link) and link.name not in wanted]


# ---- addresses ------------------------------------------------------------------------------------------


def address_plan(
    netns_name: str | None, wanted: dict[str, list[str]], links: dict[str, KernelLink], addrs: Sequence[Addr]
) -> WritePlan:
    """Add the wanted addresses (marked), remove marked addresses that are no longer wanted."""
    plan = WritePlan()
    at = where(netns_name)
    want: dict[int, dict[tuple[str, int], str]] = defaultdict(dict)
    for ifname, cidrs in wanted.items():
        link = links.get(ifname)
        if link is None:
            if cidrs:
                plan.error(f"addresses on {ifname}{at}", "no such device")
            continue
        for cidr in cidrs:
            try:
                iface = ipaddress.ip_interface(cidr)
            except ValueError as e:
                plan.error(f"address {cidr} on {ifname}{at}", e)
                continue
            want[link.index][(str(iface.ip), iface.network.prefixlen)] = ifname
    have: dict[int, dict[tuple[str, int], Addr]] = defaultdict(dict)
    for a in addrs:
        have[a.index][(ip_text(a.address), a.prefixlen)] = a
    for index, wanted_here in want.items():
        for (ip, plen), ifname in wanted_here.items():
            if (ip, plen) in have[index]:
                continue
            plan.add(
                addr_write(
                    "replace",
                    netns_name,
                    index=index,
                    address=ip,
                    prefixlen=plen,
                    proto=PROTO,
                    what=f"address {ip}/{plen} on {ifname}{at}",
                    record=("created", f"address {ip}/{plen} {ifname}{at}"),
                )
            )
    for index, present in have.items():
        for (ip, plen), a in present.items():
            if a.proto == PROTO and (ip, plen) not in want.get(index, {}):
                plan.add(
                    addr_write(
                        "del",
                        netns_name,
                        index=index,
                        address=ip,
                        prefixlen=plen,
                        what=f"remove address {ip}/{plen}{at}",
                        record=("removed", f"address {ip}/{plen}{at}"),
                    )
                )
    return plan


def sync_addresses(run: Run, ns: Namespace, wanted: dict[str, list[str]]) -> None:
    run.apply(address_plan(ns.name, wanted, ns.links(), ns.rt.addrs()))


# ---- routes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteSpec:
    """A wanted route: its type and nexthops as (gateway, oif) pairs (oif 0: let the kernel choose);
    `match_oif` False: a route through the same gateways on any device is right."""

    type: int
    nexthops: tuple[tuple[str | None, int], ...]
    match_oif: bool = True

    def matches(self, r: KernelRoute) -> bool:
        if r.type != self.type:
            return False
        if self.type != RTN_UNICAST:
            return True
        have = r.nexthops()
        if self.match_oif:
            return have == frozenset(self.nexthops)
        return {gw for gw, _ in have} == {gw for gw, _ in self.nexthops}

    def write(self, netns_name: str | None, prefix: str, *, what: str, record: Record) -> NetlinkWrite:
        """The replace request that makes the route at `prefix` (in the main table, marked) this one."""
        scope, gateway, oif = RT_SCOPE_UNIVERSE, None, None
        multipath: tuple[tuple[str | None, int], ...] = ()
        if self.type == RTN_UNICAST:
            if len(self.nexthops) > 1:
                multipath = self.nexthops
            else:
                gateway, hop_oif = self.nexthops[0]
                oif = hop_oif or None
                if gateway is None:
                    scope = RT_SCOPE_LINK  # an on-link route through a device
        return route_write(
            "replace",
            netns_name,
            dst=prefix,
            table=RT_TABLE_MAIN,
            proto=PROTO,
            rtype=self.type,
            scope=scope,
            gateway=gateway,
            oif=oif,
            multipath=multipath,
            what=what,
            record=record,
        )


def underlay_routes(
    desired: SwitchState, links: dict[str, KernelLink]
) -> tuple[dict[str, RouteSpec], list[tuple[str, str]]]:
    """The underlay routes by prefix, and (what, why) of those that cannot be made."""
    wanted: dict[str, RouteSpec] = {}
    errors: list[tuple[str, str]] = []
    for r in desired.underlay_routes:
        try:
            hops = []
            for nh in r.nexthops:
                if nh.dev not in links:
                    raise LookupError(f"nexthop device {nh.dev} missing")
                hops.append((ip_text(nh.via), links[nh.dev].index))
            wanted[net_text(r.prefix)] = RouteSpec(RTN_UNICAST, tuple(hops), match_oif=True)
        except (LookupError, ValueError) as e:
            errors.append((f"underlay route {r.prefix}", str(e)))
    return wanted, errors


def route_plan(netns_name: str | None, wanted: dict[str, RouteSpec], routes: Sequence[KernelRoute]) -> WritePlan:
    """Replace the wanted routes that are missing or differ; delete marked routes at other prefixes.
    `routes`: the main table's routes (those of ours, and those at a wanted prefix length suffice)."""
    plan = WritePlan()
    at = where(netns_name)
    have: dict[str, list[KernelRoute]] = defaultdict(list)
    for r in routes:
        if r.table == RT_TABLE_MAIN and r.family in (AF_INET, AF_INET6):
            have[r.dst].append(r)  # the kernel's text is canonical already, as `net_text` makes ours
    for prefix, spec in wanted.items():
        current = have.get(prefix, [])
        if any(r.protocol == PROTO and spec.matches(r) for r in current):
            continue
        what = f"route {prefix}{at}"
        try:
            plan.add(spec.write(netns_name, prefix, what=what, record=("changed" if current else "created", what)))
        except ValueError as e:
            plan.error(what, e)
    for prefix, present in have.items():
        if prefix in wanted:
            continue
        for r in present:
            if r.protocol != PROTO:
                continue
            # Scope "nowhere" matches a route of any scope (as `ip route del` does); without it an on-link
            # route (scope link) would not match the delete.
            plan.add(
                route_write(
                    "del",
                    netns_name,
                    dst=prefix,
                    family=r.family,
                    table=RT_TABLE_MAIN,
                    proto=PROTO,
                    rtype=r.type,
                    priority=r.priority,
                    scope=RT_SCOPE_NOWHERE,
                    what=f"remove route {prefix}{at}",
                    record=("removed", f"route {prefix}{at}"),
                )
            )
    return plan


def sync_routes(run: Run, ns: Namespace, wanted: dict[str, RouteSpec]) -> None:
    # Only ours (to remove the stale ones) and those at a wanted prefix length (to compare) are read.
    lens = {(AF_INET6 if ":" in prefix else AF_INET, int(prefix.rsplit("/", 1)[1])) for prefix in wanted}

    def keep(family: int, dst_len: int, proto: int) -> bool:
        return proto == PROTO or (family, dst_len) in lens

    run.apply(route_plan(ns.name, wanted, ns.rt.routes(AF_UNSPEC, table=RT_TABLE_MAIN, keep=keep)))
