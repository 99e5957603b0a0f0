"""Router slices: per (switch, tenant) a namespace of its own (`<switch-ns>-<slice>`, its `lo` marked as
ours), its sysctls, gateway legs (`r<vni>` in the segment bridge <-> `g<vni>` in the slice, with the anycast
gateway MAC), links between slices, addresses, the endpoints as static neighbours, and routes; and the
removal of slice namespaces that are no longer desired. The slices' nftables tables are `policy`'s.

`neighbour_plan` and `slice_routes` are pure: desired and observed state in, writes (or routes) out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..fabric.state import Slice
from . import devices, netlink, netns
from .kernel import OWNER_ALIAS, PROTO, Namespace, ip_text, net_text, owned, slice_ns_alias, slice_ns_name, where
from .links import RouteSpec, reconcile_sysctls, sync_addresses, sync_routes
from .netlink import AF_INET, AF_INET6, AF_UNSPEC, NUD_PERMANENT, RTN_UNICAST, RTN_UNREACHABLE, KernelLink, Neigh
from .run import Run
from .writes import NetnsWrite, WritePlan, neigh_write

SLICE_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/ipv4/conf/all/rp_filter": "0",
    "net/ipv4/conf/default/rp_filter": "0",
    # A gateway address that moves within its subnet is added (as a secondary) before the old primary is
    # removed, so the segment never goes without a gateway; without promotion the kernel would delete the
    # new secondary together with the old primary.
    "net/ipv4/conf/all/promote_secondaries": "1",
    "net/ipv4/conf/default/promote_secondaries": "1",
}


def reconcile(run: Run, only: frozenset[str] | None = None) -> dict[str, Namespace]:
    """Every desired slice, or those named in `only` (the others are as the last clean run left them);
    returns the handles of the slices whose namespace is there, by slice name."""
    chosen = [s for s in run.desired.slices if only is None or s.name in only]
    spaces = _namespaces(run, chosen)
    inside, addrs = _devices(run, spaces, complete=only is None)
    for s in chosen:
        h = spaces.get(s.name)
        if h is not None:
            _contents(run, s, h, inside[s.name], addrs.get(s.name, {}))
    return spaces


def _namespaces(run: Run, chosen: list[Slice]) -> dict[str, Namespace]:
    """The slices' namespaces (made where missing), their sysctls and their marked `lo`."""
    spaces: dict[str, Namespace] = {}
    marker = slice_ns_alias(run.netns)
    for s in chosen:
        name = slice_ns_name(run.netns, s.name)
        with run.guard(f"slice {s.name} ({name})"):
            if not netns.exists(name):
                make = NetnsWrite(
                    name=name, create=True, what=f"create netns {name}", record=("created", f"netns {name}")
                )
                (outcome,) = run.commit([make], report=False)
                if not outcome.applied:
                    raise RuntimeError(outcome.describe())
            h = run.ns(name)
            wanted = dict(SLICE_SYSCTLS)
            if has_v6(s):
                wanted["net/ipv6/conf/all/forwarding"] = "1"
            reconcile_sysctls(run, h, wanted)
            devices.set_now(run, h, h.link("lo"), "lo", up=True, alias=marker)
            spaces[s.name] = h
    return spaces


def _devices(
    run: Run, spaces: dict[str, Namespace], *, complete: bool = True
) -> tuple[dict[str, set[str]], dict[str, dict[str, list[str]]]]:
    """The gateway legs and the slice links of the slices in `spaces`. Returns, per slice, the devices that
    belong in it and the addresses they carry, over every desired slice: a slice link puts one end in each
    of two slices. Not `complete` (a scoped run): a link to a slice outside `spaces` is left as it is."""
    sw = run.sw
    inside: dict[str, set[str]] = defaultdict(lambda: {"lo"})
    addrs: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for s in run.desired.slices:
        inside[s.name].update(i.ifname for i in s.interfaces)
        for i in s.interfaces:
            addrs[s.name][i.ifname] = list(i.addresses)
        for lk in s.links:
            inside[s.name].add(lk.ifname)
            inside[lk.peer_slice].add(lk.peer_ifname)
            addrs[s.name][lk.ifname] = [lk.address]
            addrs[lk.peer_slice].setdefault(lk.peer_ifname, []).append(lk.peer_address)
    legs: list[devices.VethSpec] = []  # gateway legs: r<vni> in the segment bridge <-> g<vni> in the slice
    pairs: list[devices.VethSpec] = []  # slice <-> slice
    for s in run.desired.slices:
        h = spaces.get(s.name)
        if h is None:
            continue
        for i in s.interfaces:
            what = f"slice {s.name} interface {i.ifname}"
            with run.guard(what):
                b = run.bridge_by_name.get(i.bridge)
                br = sw.link(i.bridge)
                if b is None or br is None:
                    raise LookupError(f"bridge {i.bridge} is not a desired/existing segment bridge")
                legs.append(
                    devices.VethSpec(
                        i,
                        what,
                        sw,
                        i.peer,
                        h,
                        i.ifname,
                        peer_owned=True,
                        attrs={"master": br.index, "alias": OWNER_ALIAS},
                        peer_attrs={"address": i.mac, "alias": OWNER_ALIAS},
                    )
                )
        for lk in s.links:
            what = f"slice {s.name} link {lk.ifname} -> {lk.peer_slice}"
            with run.guard(what):
                other = spaces.get(lk.peer_slice)
                if other is None:
                    if not complete:
                        continue
                    raise LookupError(f"peer slice {lk.peer_slice} is not desired or could not be made")
                pairs.append(
                    devices.VethSpec(
                        lk,
                        what,
                        h,
                        lk.ifname,
                        other,
                        lk.peer_ifname,
                        peer_owned=True,
                        attrs={"alias": OWNER_ALIAS},
                        peer_attrs={"alias": OWNER_ALIAS},
                    )
                )
    devices.ensure_veths(run, legs)
    devices.ensure_veths(run, pairs)
    return inside, addrs


def _contents(run: Run, s: Slice, h: Namespace, inside: set[str], addrs: dict[str, list[str]]) -> None:
    """What is in one slice's namespace: no stale devices, the addresses, the neighbours, the routes."""
    with run.guard(f"slice {s.name} stale links"):
        stale = [link for link in h.links().values() if owned(link) and link.name not in inside]
        devices.delete(run, h, stale, "no longer desired")
    with run.guard(f"slice {s.name} addresses"):
        sync_addresses(run, h, addrs)
    with run.guard(f"slice {s.name} neighbours"):
        run.apply(neighbour_plan(h.name, s, h.links(), h.rt.neighbours(AF_UNSPEC)))
    with run.guard(f"slice {s.name} routes"):
        routes, errors = slice_routes(h.name, s, h.links())
        for what, why in errors:
            run.error(what, why)
        sync_routes(run, h, routes)


def has_v6(s: Slice) -> bool:
    cidrs = [a for i in s.interfaces for a in i.addresses] + [r.prefix for r in s.routes]
    return any(":" in c for c in cidrs)


def neighbour_plan(
    netns_name: str | None, s: Slice, links: dict[str, KernelLink], entries: Sequence[Neigh]
) -> WritePlan:
    """The endpoints as permanent neighbours (marked); marked permanent neighbours no longer wanted go."""
    plan = WritePlan()
    at = where(netns_name)
    want: dict[tuple[int, str], tuple[str, str]] = {}
    for n in s.neighbours:
        link = links.get(n.dev)
        if link is None:
            plan.error(f"neighbour {n.ip} on {n.dev}{at}", "no such device")
            continue
        want[(link.index, ip_text(n.ip))] = (n.mac.lower(), n.dev)
    have: set[tuple[int, str]] = set()
    present: set[tuple[int, str]] = set()
    for e in entries:
        if e.family not in (AF_INET, AF_INET6) or e.dst is None:
            continue
        key = (e.ifindex, e.dst)  # the kernel's text is canonical already
        wanted = want.get(key)
        if wanted is not None:
            present.add(key)
            if e.state & NUD_PERMANENT and e.lladdr == wanted[0]:
                have.add(key)
        elif e.state & NUD_PERMANENT and e.protocol == PROTO:
            plan.add(
                neigh_write(
                    "del",
                    netns_name,
                    family=e.family,
                    ifindex=e.ifindex,
                    dst=e.dst,
                    what=f"remove neighbour {e.dst}{at}",
                    record=("removed", f"neighbour {e.dst}{at}"),
                )
            )
    for key, (mac, dev) in want.items():
        if key in have:
            continue
        ip = key[1]
        what = f"neighbour {ip} {mac} {dev}{at}"
        plan.add(
            neigh_write(
                "replace",
                netns_name,
                family=AF_INET6 if ":" in ip else AF_INET,
                ifindex=key[0],
                dst=ip,
                lladdr=mac,
                state=NUD_PERMANENT,
                protocol=PROTO,
                what=what,
                record=("changed" if key in present else "created", what),
            )
        )
    return plan


def slice_routes(
    netns_name: str | None, s: Slice, links: dict[str, KernelLink]
) -> tuple[dict[str, RouteSpec], list[tuple[str, str]]]:
    """The slice's routes by prefix, and (what, why) of those that cannot be made."""
    wanted: dict[str, RouteSpec] = {}
    errors: list[tuple[str, str]] = []
    for r in s.routes:
        try:
            prefix = net_text(r.prefix)
            if r.kind == "unreachable":
                wanted[prefix] = RouteSpec(RTN_UNREACHABLE, ())
                continue
            if r.kind != "unicast":
                raise ValueError(f"unknown route kind {r.kind!r}")
            oif = 0
            if r.dev is not None:
                if r.dev not in links:
                    raise LookupError(f"device {r.dev} missing")
                oif = links[r.dev].index
            hops = tuple((ip_text(v), oif) for v in r.via) if r.via else ((None, oif),)
            if not r.via and not oif:
                raise ValueError("a route needs `via` or `dev`")
            wanted[prefix] = RouteSpec(RTN_UNICAST, hops, match_oif=bool(oif))
        except (LookupError, ValueError) as e:
            errors.append((f"route {r.prefix}{where(netns_name)}", str(e)))
    return wanted, errors


def remove_stale(run: Run) -> None:
    """Slice namespaces of this switch that no slice wants any more; only those whose `lo` carries our
    mark (the name's prefix alone could match another switch's namespaces)."""
    prefix = slice_ns_name(run.netns, "")
    wanted = {slice_ns_name(run.netns, s.name) for s in run.desired.slices}
    marker = slice_ns_alias(run.netns)
    for name in netns.list_names():
        if not name.startswith(prefix) or name in wanted or name == run.netns:
            continue
        with run.guard(f"remove slice namespace {name}"):
            with netlink.RtSocket(name) as rt:
                lo = rt.get_link("lo")
            if lo is None or lo.alias != marker:
                continue
            run.drop(name)
            gone = NetnsWrite(name=name, create=False, what=f"remove netns {name}", record=("removed", f"netns {name}"))
            (outcome,) = run.commit([gone], report=False)
            if not outcome.applied:
                raise RuntimeError(outcome.describe())
