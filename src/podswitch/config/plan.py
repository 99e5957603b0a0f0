"""What replacing one intent by another would change: the object changes, counts per kind, and a unified diff
of the running-config text.

The text diff renders and compares only the *sections* the object changes touch: the topology, the head of a
tenant (`tenant NAME`, its attributes and logical-router) and each segment. A change to one endpoint among
100,000 renders one segment twice. The hunk headers still carry the line numbers of the whole text: the
sections before a change are counted (which is cheap), not rendered."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field

from podswitch.model import (
    Change,
    Intent,
    Kind,
    LogicalRouter,
    SegmentNode,
    TenantNode,
    Topology,
    diff,
)

from .render import (
    SEPARATOR,
    head_has_children,
    printed_tenants,
    render_segment,
    render_tenant_head,
    render_topology,
)

TOPOLOGY_KINDS = frozenset({Kind.SWITCH, Kind.INTERFACE_GROUP, Kind.LINK})
CONTEXT_LINES = 3


@dataclass(frozen=True)
class KindCounts:
    added: int = 0
    removed: int = 0
    changed: int = 0


@dataclass(frozen=True)
class Plan:
    """The difference between two intents. Styles of `lines()`: "add" and "remove" (the `+` and `-` lines),
    "change" (hunk headers: where a change is) and "context" (file headers and unchanged lines)."""

    changes: list[Change]
    counts: dict[Kind, KindCounts]
    text_diff: str
    styled: tuple[tuple[str, str], ...] = field(default=(), repr=False)

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
            detail = ", ".join(f"{n} {kind.value}" for kind, n in counts.items())
            parts.append(f"{sum(counts.values())} to {verb}" + (f" ({detail})" if detail else ""))
        return ", ".join(parts)

    def lines(self) -> Iterator[tuple[str, str]]:
        """The text diff line by line with a style for each, for a terminal to color."""
        yield from self.styled


def plan(old: Intent, new: Intent) -> Plan:
    changes = diff(old, new)
    tally: dict[Kind, list[int]] = {}
    for change in changes:
        slot = tally.setdefault(change.key.kind, [0, 0, 0])
        slot[0 if change.before is None else 1 if change.after is None else 2] += 1
    counts = {kind: KindCounts(*tally[kind]) for kind in Kind if kind in tally}
    styled = tuple(_TextDiff(old, new, changes).lines()) if changes else ()
    return Plan(changes, counts, "".join(text + "\n" for _, text in styled), styled)


# ---- sections ---------------------------------------------------------------------------------------------
# A section id sorts in text order: the topology, then per tenant its head and its segments by name.

Section = tuple[int, str, int, str]
TOPOLOGY: Section = (0, "", 0, "")


def _head(tenant: str) -> Section:
    return (1, tenant, 0, "")


def _segment(tenant: str, segment: str) -> Section:
    return (1, tenant, 1, segment)


def _title(section: Section) -> str:
    if section == TOPOLOGY:
        return "topology"
    return f"tenant {section[1]}" + (f" segment {section[3]}" if section[2] else "")


def _top_level(intent: Intent) -> list[Section]:
    """The topology (if any) and the tenant heads, in print order."""
    topo = intent.topology
    items = [TOPOLOGY] if topo.switches or topo.interface_groups or topo.links else []
    return items + [_head(name) for name in printed_tenants(intent)]


class _Side:
    """One of the two intents, with what decides the `!` before each section."""

    def __init__(self, intent: Intent) -> None:
        self.intent = intent
        self.top = _top_level(intent)
        self.printed = set(self.top)
        self.first = self.top[0] if self.top else None

    def sections(self, tenant: str) -> dict[Section, bool]:
        """The sections of a printed tenant -> whether a `!` line comes before each."""
        if _head(tenant) not in self.printed:
            return {}
        node = self.intent.tenants[tenant]
        found = {_head(tenant): _head(tenant) != self.first}
        separate = head_has_children(node)
        for name in sorted(node.segments):
            found[_segment(tenant, name)] = separate
            separate = True
        return found

    def lines(self, section: Section, separated: bool) -> list[str]:
        out: list[str] = []
        if section == TOPOLOGY:
            out.append(render_topology(self.intent.topology))
        else:
            node = self.intent.tenants[section[1]]
            if section[2] == 0:
                if separated:
                    out.append(SEPARATOR)
                render_tenant_head(out, section[1], node)
            else:
                if separated:
                    out.append("  " + SEPARATOR)
                render_segment(out, section[3], node.segments[section[3]])
        return "".join(out).split("\n")[:-1]


class _TextDiff:
    def __init__(self, old: Intent, new: Intent, changes: list[Change]) -> None:
        self.old, self.new = _Side(old), _Side(new)
        touched: set[Section] = set()
        for change in changes:
            key = change.key
            if key.kind in TOPOLOGY_KINDS:
                touched.add(TOPOLOGY)
            elif key.kind in (Kind.TENANT, Kind.LOGICAL_ROUTER):
                touched.add(_head(key.tenant))
            else:
                touched.add(_segment(key.tenant, key.segment))
        # The first section of a text has no `!` before it: when the first one differs, both firsts changed.
        touched |= {s for s in (self.old.first, self.new.first) if s is not None and self.old.first != self.new.first}
        # A tenant printed on one side only (tenant system configured or cleared) gains or loses its head.
        touched |= {
            _head(s[1])
            for s in touched
            if s != TOPOLOGY
            if (_head(s[1]) in self.old.printed) != (_head(s[1]) in self.new.printed)
        }
        self.tenants = {s[1] for s in touched if s != TOPOLOGY}
        # Inside a changed tenant, a segment keeps its text but not always its `!` (its head or the segment
        # before it may have come or gone).
        self.layout: dict[str, tuple[dict[Section, bool], dict[Section, bool]]] = {}
        for tenant in self.tenants:
            before, after = self.old.sections(tenant), self.new.sections(tenant)
            self.layout[tenant] = (before, after)
            touched |= {s for s in before.keys() & after.keys() if before[s] != after[s]}
            touched |= before.keys() ^ after.keys()
        self.touched = touched

    def lines(self) -> Iterator[tuple[str, str]]:
        if not self.touched:
            return
        last = max(self.touched)
        old_line = new_line = 0  # lines of each text before the current section
        header = False
        for top in sorted(self.old.printed | self.new.printed):
            if top > last:
                break
            if top == TOPOLOGY:
                sections = {TOPOLOGY: (False, False)}
            elif top[1] not in self.tenants:
                # Untouched: the same text in both, and not first in either. Count it, don't render it.
                size = _count_tenant(self.old.intent.tenants[top[1]]) + (top != self.old.first)
                old_line += size
                new_line += size
                continue
            else:
                before, after = self.layout[top[1]]
                sections = {s: (before.get(s, False), after.get(s, False)) for s in before.keys() | after.keys()}
            for section in sorted(sections):
                if section > last:
                    break
                separated_before, separated_after = sections[section]
                if section not in self.touched:
                    size = self.count(section) + separated_before
                    old_line += size
                    new_line += size
                    continue
                a = self.old.lines(section, separated_before) if self._has(self.old, section) else []
                b = self.new.lines(section, separated_after) if self._has(self.new, section) else []
                if a != b:
                    if not header:
                        yield ("context", "--- running-config (before)")
                        yield ("context", "+++ running-config (after)")
                        header = True
                    yield from _hunks(a, b, old_line, new_line, _title(section))
                old_line += len(a)
                new_line += len(b)

    def _has(self, side: _Side, section: Section) -> bool:
        if section == TOPOLOGY or section[2] == 0:
            return section in side.printed
        before, after = self.layout[section[1]]
        return section in (after if side is self.new else before)

    def count(self, section: Section) -> int:
        """Lines of an untouched section (the same on both sides), without its `!`."""
        if section == TOPOLOGY:
            return _count_topology(self.old.intent.topology)
        node = self.old.intent.tenants[section[1]]
        if section[2] == 0:
            return _count_head(node)
        return _count_segment(node.segments[section[3]])


def _hunks(a: list[str], b: list[str], a_start: int, b_start: int, title: str) -> Iterator[tuple[str, str]]:
    # Lines shared at both ends are matched directly: difflib needs quadratic time on a big segment full of
    # repeated lines (`!`, `origination openstack`), and a change usually touches a few lines of it.
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    a_mid, b_mid = a[head : len(a) - tail], b[head : len(b) - tail]
    # On a large middle, let difflib ignore the lines that repeat everywhere (it still yields a correct diff,
    # though not always the shortest one) so that changes far apart in one huge segment stay fast.
    middle = difflib.SequenceMatcher(None, a_mid, b_mid, autojunk=len(a_mid) + len(b_mid) > 4000)
    codes = [("equal", 0, head, 0, head)] if head else []
    codes += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in middle.get_opcodes()]
    if tail:
        codes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    for group in _grouped(codes, CONTEXT_LINES):
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


Opcode = tuple[str, int, int, int, int]


def _grouped(codes: list[Opcode], n: int) -> Iterator[list[Opcode]]:
    """Opcodes grouped into hunks with n lines of context, as difflib.SequenceMatcher.get_grouped_opcodes."""
    if not codes:
        return
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = (tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2)
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n))
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    # As difflib.unified_diff writes it: an empty range names the line before it.
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


# ---- line counts (kept in step with render.py; the plan tests apply every diff strictly) -------------------


def _count_topology(topo: Topology) -> int:
    blocks = [2 + (sw.management_address is not None) for sw in topo.switches.values()]
    blocks += [1 + len(g.members) for g in topo.interface_groups.values()]
    if topo.links:
        blocks.append(len(topo.links))
    return sum(blocks) + max(len(blocks) - 1, 0)


def _count_tenant(node: TenantNode) -> int:
    segments = [_count_segment(s) for s in node.segments.values()]
    separators = len(segments) - (0 if head_has_children(node) else 1) if segments else 0
    return _count_head(node) + sum(segments) + separators


def _count_head(node: TenantNode) -> int:
    plain = (node.tenant.id is not None) + (node.tenant.origination is not None)
    if node.router is None:
        return 1 + plain
    return 1 + plain + (1 if plain else 0) + 1 + _count_router(node.router)


def _count_router(router: LogicalRouter) -> int:
    return (
        len(router.routes)
        + sum(1 + len(i.ip_addresses) for i in router.interfaces)
        + len(router.tenant_interfaces)
        + sum(1 + len(p.rules) for p in router.policy_lists)
        + (router.applied_policy_list is not None)
    )


def _count_segment(node: SegmentNode) -> int:
    seg = node.segment
    plain = (seg.id is not None) + (seg.origination is not None)
    blocks = 0
    lines = 1 + plain
    for ep in node.endpoints.values():
        blocks += 1
        lines += (
            1 + (ep.attachment_point is not None) + len(ep.ips) + (ep.mac is not None) + (ep.origination is not None)
        )
    for member in node.members.values():
        blocks += 1
        lines += 1 + (member.origination is not None)
    return lines + (blocks - (0 if plain else 1) if blocks else 0)
