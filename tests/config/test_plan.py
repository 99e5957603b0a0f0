"""plan(old, new): object changes, counts per kind, and a unified diff of the running-config text."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podswitch.config import parse, plan, render
from podswitch.model import (
    SYSTEM,
    Endpoint,
    Intent,
    Key,
    Kind,
    Link,
    Port,
    Role,
    Segment,
    Switch,
    Tenant,
    delete,
    put,
)
from tests.builders import SEED_PATH
from tests.strategies import intents, tokens

SEED = SEED_PATH.read_text()
DEMO = "demo.openstack"
NET = "net_demo"
PORT = "0485e7a0-198f-4b88-a877-ca79d3e882bc"
HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply_patch(old: str, patch: str) -> str:
    """Apply a unified diff strictly: every context and removed line must be where its hunk header says."""
    a = old.split("\n")[:-1]
    lines = patch.split("\n")[:-1]
    if not lines:
        return old
    assert lines[0].startswith("--- ") and lines[1].startswith("+++ ")
    out: list[str] = []
    pos = 0
    i = 2
    while i < len(lines):
        match = HUNK.match(lines[i])
        assert match, lines[i]
        a_len = 1 if match[2] is None else int(match[2])
        b_len = 1 if match[4] is None else int(match[4])
        a_first = int(match[1]) - (1 if a_len else 0)  # an empty range names the line before it
        b_first = int(match[3]) - (1 if b_len else 0)
        assert a_first >= pos, "hunks overlap or go backwards"
        out += a[pos:a_first]
        pos = a_first
        assert len(out) == b_first, "the new side's line number is off"
        seen_a = seen_b = 0
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][0], lines[i][1:]
            if tag in " -":
                assert a[pos] == text, f"line {pos + 1}: {a[pos]!r} != {text!r}"
                pos += 1
                seen_a += 1
            if tag in " +":
                out.append(text)
                seen_b += 1
            i += 1
        assert (seen_a, seen_b) == (a_len, b_len)
    out += a[pos:]
    return "".join(line + "\n" for line in out)


def seed() -> Intent:
    return parse(SEED)


def test_no_change_is_an_empty_plan() -> None:
    p = plan(seed(), seed())
    assert p.is_empty
    assert p.changes == [] and p.counts == {}
    assert p.text_diff == ""
    assert list(p.lines()) == []
    assert p.summary() == "0 to add, 0 to change, 0 to remove"


def test_adding_an_endpoint() -> None:
    old = seed()
    key = Key(Kind.ENDPOINT, DEMO, NET, "port-2")
    new = put(old, key, Endpoint(id="port-2", ips=("10.66.16.3",), origination="openstack"))
    p = plan(old, new)
    assert not p.is_empty
    assert [(c.key, c.operation) for c in p.changes] == [(key, "create")]
    assert p.added == {Kind.ENDPOINT: 1} and p.removed == {} and p.changed == {}
    assert p.summary() == "1 to add (1 endpoint), 0 to change, 0 to remove"
    assert p.text_diff == (
        "--- running-config (before)\n"
        "+++ running-config (after)\n"
        "@@ -18,5 +18,9 @@ tenant demo.openstack segment net_demo\n"
        "       mac fa:16:3e:ef:4f:f4\n"
        "       origination openstack\n"
        "     !\n"
        "+    endpoint port-2\n"
        "+      ip 10.66.16.3\n"
        "+      origination openstack\n"
        "+    !\n"
        "     member interface-group osvdev0013 vlan 300\n"
        "       origination openstackdev\n"
    )
    assert apply_patch(render(old), p.text_diff) == render(new)


def test_lines_carry_styles_for_a_terminal() -> None:
    old = seed()
    endpoint = old.tenants[DEMO].segments[NET].endpoints[PORT]
    new = put(old, Key(Kind.ENDPOINT, DEMO, NET, PORT), endpoint.model_copy(update={"mac": "fa:16:3e:00:00:01"}))
    p = plan(old, new)
    assert p.changed == {Kind.ENDPOINT: 1}
    styled = list(p.lines())
    assert styled[:2] == [("context", "--- running-config (before)"), ("context", "+++ running-config (after)")]
    assert styled[2] == ("change", "@@ -15,7 +15,7 @@ tenant demo.openstack segment net_demo")
    assert ("remove", "-      mac fa:16:3e:ef:4f:f4") in styled
    assert ("add", "+      mac fa:16:3e:00:00:01") in styled
    assert {style for style, _ in styled} == {"context", "change", "add", "remove"}
    assert "".join(text + "\n" for _, text in styled) == p.text_diff


def test_removing_a_segment_counts_everything_under_it() -> None:
    old = parse(SEED.replace("    interface segment net_demo\n      ip address 10.66.16.1/24\n", ""))
    new = delete(old, Key(Kind.SEGMENT, DEMO, NET))
    p = plan(old, new)
    assert p.removed == {Kind.SEGMENT: 1, Kind.MEMBER: 1, Kind.ENDPOINT: 1}
    assert p.added == {} and p.changed == {}
    assert p.summary() == "0 to add, 0 to change, 3 to remove (1 segment, 1 member, 1 endpoint)"
    assert apply_patch(render(old), p.text_diff) == render(new)
    assert all(line.startswith(("-", "@@", "---", "+++", " ")) for line in p.text_diff.splitlines())


def test_topology_and_a_new_tenant() -> None:
    old = seed()
    new = put(old, Key(Kind.SWITCH, name="leaf1"), Switch(name="leaf1", role=Role.LEAF))
    new = put(new, Key(Kind.SWITCH, name="spine1"), Switch(name="spine1", role=Role.SPINE))
    link = Link(a=Port(switch="spine1", interface="swp1"), b=Port(switch="leaf1", interface="swp49"))
    new = put(new, Key(Kind.LINK, name=link.key), link)
    new = put(new, Key(Kind.TENANT, "zeta"), Tenant(name="zeta"))
    new = put(new, Key(Kind.SEGMENT, "zeta", "web"), Segment(name="web"))
    p = plan(old, new)
    assert p.added == {Kind.SWITCH: 2, Kind.LINK: 1, Kind.TENANT: 1, Kind.SEGMENT: 1}
    assert apply_patch(render(old), p.text_diff) == render(new)
    # The topology now comes first, so the demo tenant gets a `!` before it.
    assert "+!\n tenant demo.openstack\n" in p.text_diff
    # and back
    back = plan(new, old)
    assert back.removed == p.added
    assert apply_patch(render(new), back.text_diff) == render(old)


def test_configuring_tenant_system_makes_it_appear() -> None:
    old = seed()
    new = put(old, Key(Kind.TENANT, SYSTEM), Tenant(name=SYSTEM, origination="fabric"))
    p = plan(old, new)
    assert p.changed == {Kind.TENANT: 1}
    assert p.text_diff.endswith("+!\n+tenant system\n+  origination fabric\n")
    assert apply_patch(render(old), p.text_diff) == render(new)


def test_unchanged_tenants_are_counted_not_diffed() -> None:
    # Four tenants; a change in the last one must still get the right line numbers.
    text = SEED + "".join(f"!\ntenant t{i}\n  id {i}\n  !\n  segment s\n    id {i}\n" for i in range(3))
    old = parse(text)
    new = put(old, Key(Kind.SEGMENT, "t2", "s"), Segment(name="s", id="changed"))
    p = plan(old, new)
    assert [line for line in p.text_diff.splitlines() if line.startswith("@@")] == [
        "@@ -38,3 +38,3 @@ tenant t2 segment s"
    ]
    assert apply_patch(render(old), p.text_diff) == render(new)


PLAN = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PLAN
@given(intents(), intents())
def test_text_diff_turns_old_text_into_new(old: Intent, new: Intent) -> None:
    p = plan(old, new)
    assert apply_patch(render(old), p.text_diff) == render(new)
    assert p.is_empty == (render(old) == render(new))
    total = sum(c.added + c.removed + c.changed for c in p.counts.values())
    assert total == len(p.changes)


@PLAN
@given(intents(max_tenants=4), st.data())
def test_small_changes_diff_only_their_tenant(old: Intent, data: st.DataObject) -> None:
    keys = [key for key, _ in old.objects() if key != Key(Kind.TENANT, SYSTEM)]
    new = old
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)) if keys else []:
        if new.get(key) is None:
            continue
        if key.kind == Kind.TENANT and data.draw(st.booleans()):
            new = put(new, key, Tenant(name=key.tenant, id=data.draw(tokens)))
        else:
            new = delete(new, key)
    p = plan(old, new)
    assert apply_patch(render(old), p.text_diff) == render(new)
    touched = {c.key.tenant for c in p.changes}
    # The section that becomes (or stops being) first in the text loses (or gains) the `!` before it.
    firsts = {_first_line(render(old)), _first_line(render(new))}
    if len(firsts) == 2:
        touched |= {line.split()[1] for line in firsts if line.startswith("tenant ")}
    for line in p.text_diff.splitlines():
        if line.startswith("@@"):
            section = line.split("@@ ")[-1].split()
            assert section == ["topology"] or section[1] in touched


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]
