"""Where the controller's objects of our origination differ from what Neutron asks for. Pure: the
consistency check (`journal/consistency.py`) feeds it two complete snapshots, or does not call it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from podswitch.model import Key, Kind, Model

from .mapping import Desired

_PARENTS_FIRST = {Kind.TENANT: 0, Kind.SEGMENT: 1, Kind.LOGICAL_ROUTER: 2, Kind.MEMBER: 3, Kind.ENDPOINT: 4}
# The narrowest tag that rewrites an object of each kind (and as little else as possible).
_REPAIR_TAG = {
    Kind.TENANT: "project:",
    Kind.LOGICAL_ROUTER: "project:",
    Kind.SEGMENT: "network:",
    Kind.MEMBER: "member:",
    Kind.ENDPOINT: "port:",
}


@dataclass
class Drift:
    missing: list[Key] = field(default_factory=list)  # Neutron has it, the controller not
    different: list[Key] = field(default_factory=list)
    extra: list[Key] = field(default_factory=list)  # the controller has it (our origination), Neutron not
    links: list[str] = field(default_factory=list)  # tenants whose line in system's router is wrong
    kept: list[Key] = field(default_factory=list)  # extra, but holding objects of other originations

    def __len__(self) -> int:
        return len(self.missing) + len(self.different) + len(self.extra) + len(self.links)


def compare(
    want: Desired,
    have: Mapping[Key, Model],
    system_lines: Iterable[str],
    foreign: Iterable[Key] = (),
) -> Drift:
    """`have`: the controller's objects of our origination; `system_lines`: tenants system's logical-router
    links to; `foreign`: tenants of ours that hold objects of other originations (never deleted here)."""
    drift = Drift()
    for key in sorted(want.objects):
        if key not in have:
            drift.missing.append(key)
        elif have[key] != want.objects[key]:
            drift.different.append(key)
    keep = set(foreign)
    ours = {k.tenant for k in have if k.kind == Kind.TENANT} | {k.tenant for k in want.objects if k.kind == Kind.TENANT}
    for key in sorted(have):
        if key in want.objects:
            continue
        parent = Key(Kind.TENANT, key.tenant) if key.kind != Kind.TENANT else None
        segment = Key(Kind.SEGMENT, key.tenant, key.segment) if key.kind in (Kind.MEMBER, Kind.ENDPOINT) else None
        if key in keep:
            drift.kept.append(key)
        elif (parent in have and parent not in want.objects and parent not in keep) or (
            segment is not None and segment in have and segment not in want.objects
        ):
            continue  # its parent goes, and everything below it with it
        else:
            drift.extra.append(key)
    lines = set(system_lines)
    for tenant in sorted(ours):
        if (tenant in want.linked) != (tenant in lines):
            drift.links.append(tenant)
    return drift


def repairs(want: Desired, drift: Drift, limit: int) -> tuple[set[str], list[Key]]:
    """At most `limit` objects to repair: (tags to rewrite, extra keys to remove)."""
    tags: set[str] = set()
    old: list[Key] = []
    budget = limit
    # What goes first: an object that moved (a renamed segment's endpoints) is put at its new place only
    # once its old place is gone (ids are unique fabric-wide).
    for key in drift.extra:
        if budget <= 0:
            break
        old.append(key)
        budget -= 1
    missing = set(drift.missing)
    # Parents first: a missing segment's repair rewrites what is in it; an endpoint whose segment is missing
    # and not repaired in this pass waits for the next one (the controller would refuse it).
    for key in sorted(drift.missing + drift.different, key=lambda k: (_PARENTS_FIRST[k.kind], k)):
        if budget <= 0:
            break
        if want.tags[key] & tags:
            continue  # rewritten by a repair already chosen
        parents = [Key(Kind.TENANT, key.tenant)]
        if key.kind in (Kind.MEMBER, Kind.ENDPOINT):
            parents.append(Key(Kind.SEGMENT, key.tenant, key.segment))
        if any(p in missing and p != key and not (want.tags[p] & tags) for p in parents):
            continue
        tags.add(_narrowest(key, want.tags[key]))
        budget -= 1
    for tenant in drift.links:
        if budget <= 0:
            break
        project = next((p for p, t in want.tenants.items() if t == tenant), None)
        if project is not None and Key(Kind.TENANT, tenant) in want.objects:
            tags.add(f"project:{project}")
        else:
            old.append(Key(Kind.TENANT, tenant))
        budget -= 1
    return tags, old


def _narrowest(key: Key, tags: Iterable[str]) -> str:
    prefix = _REPAIR_TAG[key.kind]
    return min(t for t in tags if t.startswith(prefix))
