"""Devices as every concern makes them: the attributes of one link, devices of a kind (bridges, VXLAN
devices), veth pairs (within a namespace or across two), and removals. The `*_write(s)` and `*_plan`
functions are pure (observed links in, writes out); the others read, commit through the run's transaction
and read back."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .kernel import Namespace, netns_fds, owned, where
from .netlink import KernelLink
from .run import Run, failed_keys
from .writes import NetlinkWrite, Record, link_del, link_set, veth_add


def attrs_write(
    netns: str | None,
    link: KernelLink,
    name: str,
    *,
    up: bool = True,
    mtu: int | None = None,
    master: int | None = None,
    address: str | None = None,
    alias: str | None = None,
    created: bool = False,
    label: str | None = None,
    key: Hashable = None,
) -> NetlinkWrite | None:
    """The one request (a `link set`) that sets what differs on `link`, or None; `alias` marks ownership.
    `created`: the device was made in this run (the change is part of its creation, not noted as one)."""
    changes: dict[str, Any] = {}
    if alias is not None and link.alias != alias:
        changes["ifalias"] = alias
    if mtu is not None and link.mtu != mtu:
        changes["mtu"] = mtu
    if master is not None and link.master != master:
        changes["master"] = master
    if address is not None and (link.address or "").lower() != address.lower():
        changes["address"] = address.lower()
    if up and not link.up:
        changes["state"] = "up"
    if not changes:
        return None
    text = ", ".join(sorted(changes))
    record: Record | None = None if created else ("changed", f"link {name}{where(netns)}: {text}")
    return link_set(
        netns,
        link.index,
        alias=changes.get("ifalias"),
        mtu=changes.get("mtu"),
        master=changes.get("master"),
        address=changes.get("address"),
        up="state" in changes,
        what=f"{label or 'link ' + name + where(netns)}: set {text}",
        key=key,
        record=record,
    )


def set_now(
    run: Run,
    ns: Namespace,
    link: KernelLink | None,
    name: str,
    *,
    up: bool = True,
    mtu: int | None = None,
    alias: str | None = None,
) -> KernelLink:
    """Set what differs on one link right away and read it back (for the few single devices: lo, fabric
    ports)."""
    if link is None:
        raise LookupError(f"{name}: no such device")
    w = attrs_write(ns.name, link, name, up=up, mtu=mtu, alias=alias)
    if w is None:
        return link
    (outcome,) = run.commit([w], report=False, forget_links=False)
    if not outcome.applied:
        raise RuntimeError(f"link {name}: {outcome.describe()}")
    fresh = ns.refresh_link(name)
    if fresh is None:
        raise LookupError(f"{name}: vanished")
    return fresh


def delete_writes(netns: str | None, links: Sequence[KernelLink], why: str) -> list[NetlinkWrite]:
    """Deletes of `links`. A veth takes its other end with it: a pair in one namespace is one request, and
    an end that is gone already counts as deleted."""
    chosen: dict[int, KernelLink] = {}
    for link in links:
        if link.kind == "veth" and link.link_netnsid is None and link.link in chosen:
            continue
        chosen[link.index] = link
    return [
        link_del(
            netns,
            link.index,
            what=f"remove {link.name}{where(netns)}",
            record=("removed", f"link {link.name}{where(netns)} ({why})"),
        )
        for link in chosen.values()
    ]


def delete(run: Run, ns: Namespace, links: Sequence[KernelLink], why: str) -> None:
    run.commit(delete_writes(ns.name, links, why))


# ---- devices of a kind ----------------------------------------------------------------------------------


K = TypeVar("K", bound=Hashable)


class MakeWrite(Protocol):
    def __call__(self, *, what: str, key: Hashable, record: Record) -> NetlinkWrite: ...


@dataclass(eq=False, slots=True)
class LinkSpec(Generic[K]):
    """A device `name` of `kind` for `ensure_links`; `make(what=, key=, record=)` gives its create request,
    `fits(link)` says whether an existing device of that kind has the settings that cannot be changed."""

    key: K
    label: str
    name: str
    kind: str
    fits: Callable[[KernelLink], bool] | None
    make: MakeWrite


@dataclass
class LinkPlan(Generic[K]):
    """Per spec: the removal of a device in the way (if any), the create (if needed), and then the device
    to read back. `errors`: (label, why) of the specs that cannot be planned."""

    removals: dict[K, NetlinkWrite] = field(default_factory=dict)
    creates: dict[K, NetlinkWrite] = field(default_factory=dict)
    names: dict[K, tuple[str, str, bool]] = field(default_factory=dict)  # key -> (label, name, new)
    errors: list[tuple[str, str]] = field(default_factory=list)


def link_plan(netns: str | None, links: dict[str, KernelLink], items: Sequence[LinkSpec[K]]) -> LinkPlan[K]:
    """Remove ours that are of the wrong kind or do not `fit`, create the missing ones. A device of the
    wrong kind that is not ours is an error and is left alone."""
    plan: LinkPlan[K] = LinkPlan()
    for it in items:
        link = links.get(it.name)
        if link is not None and (link.kind != it.kind or (it.fits is not None and not it.fits(link))):
            if not owned(link):
                what = "another kind" if link.kind != it.kind else "other immutable settings"
                plan.errors.append(
                    (it.label, f"{it.name} exists with {what} ({link.kind}) and is not podswitch's: left alone")
                )
                continue
            why = f"link {it.name}{where(netns)} (wrong kind or settings)"
            plan.removals[it.key] = link_del(
                netns, link.index, what=f"{it.label}: remove {it.name}", key=it.key, record=("removed", why)
            )
            link = None
        if link is None:
            plan.creates[it.key] = it.make(
                what=f"{it.label}: create {it.name}", key=it.key, record=("created", f"link {it.name}{where(netns)}")
            )
        plan.names[it.key] = (it.label, it.name, link is None)
    return plan


def ensure_links(run: Run, ns: Namespace, items: Sequence[LinkSpec[K]]) -> dict[K, tuple[KernelLink, bool]]:
    """Devices of a kind: removals, then the creates (a create waits for the removal in its way and is
    skipped if that failed), then the links read back. Returns {key: (link, created)} of the devices that
    are there now."""
    plan = link_plan(ns.name, ns.links(), items)
    for what, why in plan.errors:
        run.error(what, why)
    for w in plan.removals.values():
        run.txn.add(w)
    for key, w in plan.creates.items():
        removal = plan.removals.get(key)
        run.txn.add(w, after=[removal] if removal is not None else [])
    failed = failed_keys(run.commit())
    out: dict[K, tuple[KernelLink, bool]] = {}
    for key, (label, name, new) in plan.names.items():
        if key in failed:
            continue
        link = ns.link(name)
        if link is None:
            run.error(label, f"{name}: created but not found")
            continue
        out[key] = (link, new)
    return out


# ---- veth pairs -----------------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class VethSpec:
    """A veth pair: `name` in `ns` with `attrs`, `peer_name` in `peer_ns` with `peer_attrs` (keyword
    arguments of `attrs_write`). `new`, `link`, `peer` are filled in by `ensure_veths`."""

    key: Any
    label: str
    ns: Namespace
    name: str
    peer_ns: Namespace
    peer_name: str
    peer_owned: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)
    peer_attrs: dict[str, Any] = field(default_factory=dict)
    new: bool = False
    link: KernelLink | None = None
    peer: KernelLink | None = None


def paired(a: KernelLink | None, b: KernelLink | None, same: bool) -> bool:
    """`a` and `b` are the two ends of one veth; `same`: both in one namespace."""
    if a is None or b is None or a.kind != "veth" or b.kind != "veth":
        return False
    if a.link != b.index or b.link != a.index:
        return False
    # In one namespace the ends show no netns id; across namespaces both do.
    return (a.link_netnsid is None) == same and (b.link_netnsid is None) == same


def ensure_veths(run: Run, specs: Sequence[VethSpec]) -> list[VethSpec]:
    """Veth pairs `name` (in ns) <-> `peer_name` (in peer_ns) with their attributes, in batches: remove
    wrongly paired ends that are ours, create the missing pairs, read the links back, set what differs.
    Returns the specs whose pair is in place (with `link`/`peer` filled in); the others have an error.

    An end that exists, is not paired right and is not ours is an error (left alone); `peer_owned`: the
    peer's namespace is podswitch's (a slice), so whatever is in it is ours."""
    dels: dict[int, tuple[Namespace, dict[int, KernelLink]]] = {}
    planned: list[VethSpec] = []
    for v in specs:
        same = v.ns is v.peer_ns
        a, b = v.ns.link(v.name), v.peer_ns.link(v.peer_name)
        if paired(a, b, same):
            planned.append(v)
            continue
        foreign = next(
            (
                (link, space)
                for link, space, ours in ((a, v.ns, False), (b, v.peer_ns, v.peer_owned))
                if link is not None and not (ours or owned(link))
            ),
            None,
        )
        if foreign is not None:
            link, space = foreign
            other = v.peer_name if link is a else v.name
            run.error(
                v.label,
                f"{link.name}{where(space.name)} exists, is not a veth to {other} and is not podswitch's: left alone",
            )
            continue
        for end, space in ((a, v.ns), (b, v.peer_ns)):
            if end is not None:
                dels.setdefault(id(space), (space, {}))[1][end.index] = end
        v.new = True
        planned.append(v)
    for space, links in dels.values():
        delete(run, space, list(links.values()), "veth peer mismatch")
    # Creates, sent in the namespace of `name`; the peer's namespace goes by fd.
    failed: set[Hashable] = set()
    new = [v for v in planned if v.new]
    with netns_fds([v.peer_ns.name for v in new if v.ns is not v.peer_ns]) as fds:
        creates = [
            veth_add(
                v.ns.name,
                v.name,
                v.peer_name,
                peer_ns_fd=fds[v.peer_ns.name] if v.ns is not v.peer_ns else None,
                peer_address=v.peer_attrs.get("address"),
                master=v.attrs.get("master"),
                up=True,
                what=f"{v.label}: create veth {v.name}",
                key=id(v),
                record=("created", f"veth {v.name}{where(v.ns.name)} <-> {v.peer_name}{where(v.peer_ns.name)}"),
            )
            for v in new
        ]
        failed |= failed_keys(run.commit(creates))
    for v in new:
        v.ns.forget_links()
        v.peer_ns.forget_links()
    # Attributes: what the create could not set (alias, the peer's state) and whatever drifted.
    sets: list[NetlinkWrite] = []
    ready: list[VethSpec] = []
    for v in planned:
        if id(v) in failed:
            continue
        v.link, v.peer = v.ns.link(v.name), v.peer_ns.link(v.peer_name)
        if v.link is None or v.peer is None or (v.new and not paired(v.link, v.peer, v.ns is v.peer_ns)):
            run.error(v.label, f"veth {v.name}/{v.peer_name}: created but not found")
            continue
        for space, link, name, attrs in (
            (v.ns, v.link, v.name, v.attrs),
            (v.peer_ns, v.peer, v.peer_name, v.peer_attrs),
        ):
            w = attrs_write(space.name, link, name, created=v.new, label=v.label, key=id(v), **attrs)
            if w is not None:
                sets.append(w)
        ready.append(v)
    failed |= failed_keys(run.commit(sets))
    return [v for v in ready if id(v) not in failed]
