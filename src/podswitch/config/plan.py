"""What applying a new intent would change: the object changes, counts per kind, and a unified diff of the
running-config text.

The text diff looks only at the sections (topology, one per tenant) that the object diff touches, so a change
to one endpoint among 100,000 renders and compares one tenant, not the whole config. Line numbers in the hunk
headers are still those of the whole text: the sections before a change are counted, not rendered."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field

from podswitch.model import Change, Intent, Kind, LogicalRouter, SegmentNode, TenantNode, Topology, diff

from .render import SEPARATOR, printed_tenants, render_tenant, render_topology

TOPOLOGY_KINDS = frozenset({Kind.SWITCH, Kind.INTERFACE_GROUP, Kind.LINK})
TOPOLOGY = "topology"
CONTEXT_LINES = 3


@dataclass(frozen=True)
class KindCounts:
    added: int = 0
    removed: int = 0
    changed: int = 0


@dataclass(frozen=True)
class Plan:
    """The difference between two intents. Styles of `lines()`: "add", "remove", "change" (hunk headers:
    where a change is) and "context" (file headers and unchanged lines)."""

    changes: list[Change]
    counts: dict[Kind, KindCounts]
    text_diff: str
    _styled: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def added(self) -> dict[Kind, int]:
        return {kind: c.added for kind, c in self.counts.items() if c.added}

    @property
    def removed(self) -> dict[Kind, int]:
        return {kind: c.removed for kind, c in self.counts.items() if c.removed}

    @property
    def changed(self) -> dict[Kind, int]:
        return {kind: c.changed for kind, c in self.counts.items() if c.changed}

    def summary(self) -> str:
        """One line, e.g. "2 to add (1 segment, 1 endpoint), 1 to change (1 logical-router), 0 to remove"."""
        parts = []
        for verb, counts in (("add", self.added), ("change", self.changed), ("remove", self.removed)):
            total = sum(counts.values())
            detail = ", ".join(f"{n} {kind.value}" for kind, n in counts.items())
            parts.append(f"{total} to {verb}" + (f" ({detail})" if detail else ""))
        return ", ".join(parts)

    def lines(self) -> Iterator[tuple[str, str]]:
        """The text diff line by line with a style for each, for a terminal to color."""
        yield from self._styled


def plan(old: Intent, new: Intent) -> Plan:
    changes = diff(old, new)
    tally: dict[Kind, list[int]] = {}
    for change in changes:
        slot = tally.setdefault(change.key.kind, [0, 0, 0])
        slot[0 if change.before is None else 1 if change.after is None else 2] += 1
    counts = {kind: KindCounts(*tally[kind]) for kind in Kind if kind in tally}
    touched = {TOPOLOGY if c.key.kind in TOPOLOGY_KINDS else c.key.tenant for c in changes}
    styled = tuple(_text_diff(old, new, touched)) if changes else ()
    return Plan(changes, counts, "".join(text + "\n" for _, text in styled), styled)


# ---- the text diff over sections ------------------------------------------------------------------

def _section_names(intent: Intent) -> list[str]:
    topo = intent.topology
    names = [TOPOLOGY] if topo.switches or topo.interface_groups or topo.links else []
    return names + printed_tenants(intent)


def _section_lines(intent: Intent, name: str, first: bool) -> list[str]:
    text = render_topology(intent.topology) if name == TOPOLOGY else render_tenant(name, intent.tenants[name])
    if not first:
        text = SEPARATOR + text
    return text.split("\n")[:-1]


def _order(name: str) -> tuple[bool, str]:
    return (name != TOPOLOGY, name)


def _text_diff(old: Intent, new: Intent, touched: set[str]) -> Iterator[tuple[str, str]]:
    old_names, new_names = _section_names(old), _section_names(new)
    # The first section has no `!` before it: if the first section differs, both firsts' text changed.
    if old_names[:1] != new_names[:1]:
        touched = touched | set(old_names[:1]) | set(new_names[:1])
    old_set, new_set = set(old_names), set(new_names)
    todo = sorted((old_set | new_set) & touched, key=_order)
    if not todo:
        return
    last = _order(todo[-1])
    old_line = new_line = 0  # lines before the current section in each text
    header = False
    for name in sorted(old_set | new_set, key=_order):
        if _order(name) > last:
            break
        if name not in touched:
            # Untouched, so the same in both texts (and not first in either): count, don't render.
            size = _count_section(old, name) + (name != old_names[0])
            old_line += size
            new_line += size
            continue
        a = _section_lines(old, name, old_names[0] == name) if name in old_set else []
        b = _section_lines(new, name, new_names[0] == name) if name in new_set else []
        if a != b:
            if not header:
                yield ("context", "--- running-config (before)")
                yield ("context", "+++ running-config (after)")
                header = True
            yield from _hunks(a, b, old_line, new_line, name if name == TOPOLOGY else f"tenant {name}")
        old_line += len(a)
        new_line += len(b)


def _hunks(a: list[str], b: list[str], a_start: int, b_start: int, title: str) -> Iterator[tuple[str, str]]:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        first, last = group[0], group[-1]
        old_range = _range(a_start + first[1], a_start + last[2])
        new_range = _range(b_start + first[3], b_start + last[4])
        yield ("change", f"@@ -{old_range} +{new_range} @@ {title}")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    yield ("context", " " + line)
                continue
            for line in a[i1:i2]:
                yield ("remove", "-" + line)
            for line in b[j1:j2]:
                yield ("add", "+" + line)


def _range(start: int, stop: int) -> str:
    # As difflib.unified_diff writes it: an empty range names the line before it.
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


# ---- line counts (kept in step with render.py; tests compare the two) ------------------------------

def _count_section(intent: Intent, name: str) -> int:
    if name == TOPOLOGY:
        return _count_topology(intent.topology)
    return _count_tenant(intent.tenants[name])


def _count_topology(topo: Topology) -> int:
    blocks = [2 + (sw.management_address is not None) for sw in topo.switches.values()]
    blocks += [1 + len(g.members) for g in topo.interface_groups.values()]
    if topo.links:
        blocks.append(len(topo.links))
    return sum(blocks) + max(len(blocks) - 1, 0)


def _count_tenant(node: TenantNode) -> int:
    plain = (node.tenant.id is not None) + (node.tenant.origination is not None)
    blocks = []
    if node.router is not None:
        blocks.append(1 + _count_router(node.router))
    blocks += [_count_segment(s) for s in node.segments.values()]
    separators = len(blocks) - (0 if plain else 1) if blocks else 0
    return 1 + plain + sum(blocks) + separators


def _count_router(router: LogicalRouter) -> int:
    return (len(router.routes) + sum(1 + len(i.ip_addresses) for i in router.interfaces)
            + len(router.tenant_interfaces) + sum(1 + len(p.rules) for p in router.policy_lists)
            + (router.applied_policy_list is not None))


def _count_segment(node: SegmentNode) -> int:
    seg = node.segment
    plain = (seg.id is not None) + (seg.origination is not None)
    blocks = 0
    lines = 1 + plain
    for ep in node.endpoints.values():
        blocks += 1
        lines += (1 + (ep.attachment_point is not None) + len(ep.ips) + (ep.mac is not None)
                  + (ep.origination is not None))
    for member in node.members.values():
        blocks += 1
        lines += 1 + (member.origination is not None)
    return lines + (blocks - (0 if plain else 1) if blocks else 0)
