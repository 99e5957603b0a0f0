"""Copy-on-write operations, diff and the indexes they carry forward."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from podswitch.model import (
    Edit,
    Intent,
    Key,
    Kind,
    Member,
    Segment,
    Tenant,
    apply_changes,
    build,
    delete,
    diff,
    put,
)
from tests.builders import DEMO, SEED_ENDPOINT, demo_tenant, endpoint


def fresh(intent: Intent) -> Intent:
    """The same tree without any carried-forward index."""
    return build(intent.objects())


def test_put_shares_untouched_subtrees() -> None:
    base = put(demo_tenant(), Key(Kind.TENANT, "other"), Tenant(name="other"))
    changed = put(
        base,
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e2"),
        endpoint("e2", "osvdev0013", 300, "10.66.16.3", "fa:16:3e:00:00:02"),
    )
    assert changed.tenants["other"] is base.tenants["other"]
    assert changed.topology is base.topology
    assert base.get(Key(Kind.ENDPOINT, DEMO, "net_demo", "e2")) is None  # the old snapshot is untouched
    assert [c.key for c in diff(base, changed)] == [Key(Kind.ENDPOINT, DEMO, "net_demo", "e2")]


def test_diff_orders_parents_before_children_and_deletes_children_first() -> None:
    intent = demo_tenant()
    created = diff(Intent(), intent)
    kinds = [c.key.kind for c in created]
    assert kinds.index(Kind.TENANT) < kinds.index(Kind.SEGMENT) < kinds.index(Kind.ENDPOINT)
    removed = diff(intent, Intent())
    kinds = [c.key.kind for c in removed]
    assert kinds.index(Kind.ENDPOINT) < kinds.index(Kind.SEGMENT) < kinds.index(Kind.TENANT)
    assert all(c.operation == "delete" for c in removed)


def test_deleting_a_tenant_cascades_and_build_round_trips() -> None:
    intent = demo_tenant()
    gone = delete(intent, Key(Kind.TENANT, DEMO))
    assert DEMO not in gone.tenants and gone.find_endpoint(SEED_ENDPOINT) is None
    assert apply_changes(gone, diff(gone, intent)).model_dump() == intent.model_dump()
    assert fresh(intent).model_dump() == intent.model_dump()


# A random walk of puts and deletes: the indexes carried forward must always equal freshly built ones,
# and diff + apply_changes must take any state to any other.
GROUPS = ["g1", "g2", "g3"]
op = st.one_of(
    st.tuples(
        st.just("endpoint"),
        st.sampled_from(["s1", "s2"]),
        st.integers(0, 5),
        st.sampled_from(GROUPS),
        st.integers(1, 3),
    ),
    st.tuples(st.just("member"), st.sampled_from(["s1", "s2"]), st.sampled_from(GROUPS), st.integers(1, 3)),
    st.tuples(st.just("delete-endpoint"), st.sampled_from(["s1", "s2"]), st.integers(0, 5)),
    st.tuples(st.just("delete-segment"), st.sampled_from(["s1", "s2"])),
)


def _apply(intent: Intent, step: tuple) -> Intent:
    kind, seg = step[0], step[1]
    if intent.get(Key(Kind.SEGMENT, "t", seg)) is None and not kind.startswith("delete"):
        intent = put(intent, Key(Kind.SEGMENT, "t", seg), Segment(name=seg))
    if kind == "endpoint":
        _, _, n, group, vlan = step
        eid = f"{seg}-e{n}"
        return put(
            intent,
            Key(Kind.ENDPOINT, "t", seg, eid),
            endpoint(eid, group, vlan, f"10.0.{n}.1", f"fa:16:3e:00:00:{n:02x}"),
        )
    if kind == "member":
        _, _, group, vlan = step
        m = Member(interface_group=group, vlan=vlan)
        return put(intent, Key(Kind.MEMBER, "t", seg, m.key), m)
    if kind == "delete-endpoint":
        key = Key(Kind.ENDPOINT, "t", seg, f"{seg}-e{step[2]}")
    else:
        key = Key(Kind.SEGMENT, "t", seg)
    return delete(intent, key) if intent.get(key) is not None else intent


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=25), st.lists(op, max_size=25))
def test_indexes_stay_true_and_diff_reaches_any_state(first: list, second: list) -> None:
    intent = put(Intent(), Key(Kind.TENANT, "t"), Tenant(name="t"))
    intent.claims()
    intent.endpoint_locations()  # build the indexes so the walk must carry them forward
    states = []
    for step in first:
        intent = _apply(intent, step)
        assert intent.claims() == fresh(intent).claims()
        assert intent.endpoint_locations() == fresh(intent).endpoint_locations()
    states.append(intent)
    other = states[0]
    for step in second:
        other = _apply(other, step)
    assert apply_changes(intent, diff(intent, other)).model_dump() == other.model_dump()
    assert diff(other, other) == []


def _edit_step(edit: Edit, step: tuple) -> None:
    """`_apply`, but on one open edit: every step sees the ones before it."""
    kind, seg = step[0], step[1]
    if edit.get(Key(Kind.SEGMENT, "t", seg)) is None and not kind.startswith("delete"):
        edit.put(Key(Kind.SEGMENT, "t", seg), Segment(name=seg))
    if kind == "endpoint":
        _, _, n, group, vlan = step
        eid = f"{seg}-e{n}"
        edit.put(
            Key(Kind.ENDPOINT, "t", seg, eid), endpoint(eid, group, vlan, f"10.0.{n}.1", f"fa:16:3e:00:00:{n:02x}")
        )
        return
    if kind == "member":
        _, _, group, vlan = step
        m = Member(interface_group=group, vlan=vlan)
        edit.put(Key(Kind.MEMBER, "t", seg, m.key), m)
        return
    key = (
        Key(Kind.ENDPOINT, "t", seg, f"{seg}-e{step[2]}") if kind == "delete-endpoint" else Key(Kind.SEGMENT, "t", seg)
    )
    if edit.get(key) is not None:
        edit.delete(key)


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=25), st.lists(op, max_size=25))
def test_one_edit_equals_the_same_steps_one_by_one(before: list, steps: list) -> None:
    base = put(Intent(), Key(Kind.TENANT, "t"), Tenant(name="t"))
    for step in before:
        base = _apply(base, step)
    base.claims()
    snapshot = base.model_dump()
    one_by_one = base
    for step in steps:
        one_by_one = _apply(one_by_one, step)
    edit = Edit(base)
    for step in steps:
        _edit_step(edit, step)
    together = edit.finish()
    assert together == one_by_one
    assert together.claims() == fresh(together).claims()
    assert together.endpoint_locations() == fresh(together).endpoint_locations()
    assert base.model_dump() == snapshot  # the base is never modified
    assert base.claims() == fresh(base).claims()


def test_an_edit_builds_on_its_own_changes_and_shares_the_rest() -> None:
    base = put(demo_tenant(), Key(Kind.TENANT, "other"), Tenant(name="other"))
    edit = Edit(base)
    edit.put(Key(Kind.TENANT, "new"), Tenant(name="new"))
    edit.put(Key(Kind.SEGMENT, "new", "s"), Segment(name="s"))
    ep = endpoint("e9", "g1", 10, "10.9.0.2", "fa:16:3e:00:00:09")
    edit.put(Key(Kind.ENDPOINT, "new", "s", "e9"), ep)
    assert edit.get(Key(Kind.ENDPOINT, "new", "s", "e9")) == ep
    edit.delete(Key(Kind.TENANT, "other"))
    new = edit.finish()
    assert new.find_endpoint("e9") == ("new", "s", ep)
    assert new.tenants[DEMO] is base.tenants[DEMO]  # untouched subtrees are shared
    assert "other" not in new.tenants and "other" in base.tenants
    assert [c.key for c in diff(base, new)] == [
        Key(Kind.TENANT, "other"),
        Key(Kind.TENANT, "new"),
        Key(Kind.SEGMENT, "new", "s"),
        Key(Kind.ENDPOINT, "new", "s", "e9"),
    ]


def test_putting_what_is_there_copies_nothing() -> None:
    base = demo_tenant()
    same = base.get(Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT))
    assert same is not None
    assert put(base, Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT), same) is base
