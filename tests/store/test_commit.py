"""Committing intent: round trips, one revision per commit with its audit rows, optimistic concurrency,
and nothing half-written when a commit is refused."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podswitch.model import (
    MODEL_OF,
    Change,
    Intent,
    Key,
    Kind,
    Segment,
    Tenant,
    delete,
    diff,
    put,
)
from podswitch.store import StaleRevision, Store, StoreError
from tests.builders import DEMO, SEED_ENDPOINT, demo_tenant, endpoint, pod
from tests.store.helpers import logged_objects, objects, replayed, save
from tests.strategies import intents

ENDPOINT = Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT)
MEMBER = Key(Kind.MEMBER, DEMO, "net_demo", "osvdev0013:300")


def seed() -> Intent:
    return demo_tenant(pod(servers={"osvdev0013": "leaf1", "osvdev0014": "leaf2"}))


def test_an_empty_store_is_at_revision_zero_with_only_tenant_system(store: Store) -> None:
    head, intent = store.load()
    assert (head, store.head()) == (0, 0)
    assert objects(intent) == objects(Intent())
    assert store.history() == []
    assert store.load_allocations() == {}


def test_demo_tenant_round_trips_and_writes_one_revision(store: Store) -> None:
    intent = seed()
    info = save(store, intent, actor="admin", operation="replace")
    assert info is not None
    assert info.revision == 1 and store.head() == 1
    assert (info.actor, info.operation) == ("admin", "replace")
    assert info.created_at.tzinfo is UTC and abs((datetime.now(UTC) - info.created_at).days) == 0
    assert info.change_count == len(list(intent.objects())) - 1  # everything but the untouched tenant system
    head, loaded = store.load()
    assert head == 1
    assert objects(loaded) == objects(intent)
    assert loaded.get(ENDPOINT).mac == "fa:16:3e:ef:4f:f4"
    assert store.revision_info(1) == info


def test_audit_rows_carry_before_and_after_of_every_change(store: Store) -> None:
    first = seed()
    save(store, first)
    moved = endpoint(SEED_ENDPOINT, "osvdev0014", 300, "10.66.16.9", "fa:16:3e:ef:4f:f4")
    second = put(delete(first, MEMBER), ENDPOINT, moved)
    second = put(second, Key(Kind.TENANT, "other"), Tenant(name="other", origination="openstack"))
    info = save(store, second, actor="neutron", operation="put")
    assert info is not None and info.revision == 2 and info.change_count == 3

    changes = {c.key: c for c in store.revision_changes(2)}
    assert set(changes) == {ENDPOINT, MEMBER, Key(Kind.TENANT, "other")}
    assert changes[ENDPOINT].before == first.get(ENDPOINT)
    assert changes[ENDPOINT].after == moved
    assert changes[ENDPOINT].operation == "update"
    assert changes[MEMBER].before == first.get(MEMBER) and changes[MEMBER].after is None
    assert changes[Key(Kind.TENANT, "other")].before is None
    # The bodies come back as the model's own types.
    for change in changes.values():
        for body in (change.before, change.after):
            assert body is None or isinstance(body, MODEL_OF[change.key.kind])
    # The first revision's audit is untouched by the second.
    assert {c.key for c in store.revision_changes(1)} == set(objects(first)) - {Key(Kind.TENANT, "system")}
    assert objects(store.load()[1]) == objects(second)


def test_commit_against_an_old_revision_is_refused_and_writes_nothing(store: Store) -> None:
    save(store, seed())
    head, current = store.load()
    stale_changes = diff(current, put(current, Key(Kind.TENANT, "late"), Tenant(name="late")))
    save(store, put(current, Key(Kind.TENANT, "early"), Tenant(name="early")))
    with pytest.raises(StaleRevision) as caught:
        store.commit(
            stale_changes, expected_revision=head, actor="slow", operation="put", allocations={("tenant", "late"): 7}
        )
    assert caught.value.head == head + 1
    assert store.head() == head + 1
    assert store.load()[1].get(Key(Kind.TENANT, "late")) is None
    assert store.load_allocations() == {}
    assert [i.revision for i in store.history()] == [head + 1, head]


def test_nothing_to_commit_returns_none_and_writes_nothing(store: Store) -> None:
    save(store, seed())
    assert store.commit([], expected_revision=1, actor="a", operation="put") is None
    assert store.commit([], expected_revision=1, actor="a", operation="put", allocations={}) is None
    assert save(store, seed()) is None  # the same intent again: diff is empty
    assert store.head() == 1 and len(store.history()) == 1


def test_changes_that_do_not_fit_the_stored_objects_are_refused_whole(store: Store) -> None:
    save(store, seed())
    head, current = store.load()
    fresh = Change(Key(Kind.TENANT, "fresh"), None, Tenant(name="fresh"))
    again = Change(Key(Kind.TENANT, DEMO), None, current.get(Key(Kind.TENANT, DEMO)))  # exists already
    gone = Change(Key(Kind.TENANT, "ghost"), Tenant(name="ghost"), None)  # not stored
    ghost_update = Change(Key(Kind.TENANT, "ghost"), Tenant(name="ghost"), Tenant(name="ghost", id="x"))
    for bad in (again, gone, ghost_update):
        with pytest.raises(StoreError):
            store.commit([fresh, bad], expected_revision=head, actor="buggy", operation="put")
        assert store.head() == head
        assert objects(store.load()[1]) == objects(current)
        assert store.load()[1].get(Key(Kind.TENANT, "fresh")) is None


def test_a_key_changed_twice_in_one_commit_ends_in_its_last_state(store: Store) -> None:
    key = Key(Kind.TENANT, "twice")
    one, two = Tenant(name="twice", id="1"), Tenant(name="twice", id="2")
    changes = [Change(key, None, one), Change(key, one, two)]
    store.commit(changes, expected_revision=0, actor="a", operation="put")
    assert store.load()[1].get(key) == two
    changes = [Change(key, two, None), Change(key, None, one)]
    store.commit(changes, expected_revision=1, actor="a", operation="put")
    assert store.load()[1].get(key) == one
    store.commit([Change(key, one, None)], expected_revision=2, actor="a", operation="delete")
    assert store.load()[1].get(key) is None
    assert [len(store.revision_changes(r)) for r in (1, 2, 3)] == [2, 2, 1]


def test_concurrent_writers_at_the_same_revision_exactly_one_wins(store_url: str) -> None:
    # Every writer takes the write lock before reading the head (BEGIN IMMEDIATE / SELECT ... FOR UPDATE);
    # without it two writers would both see revision 0 and collide on the revision number instead.
    writers = 4
    stores = [Store.open(store_url) for _ in range(writers)]
    barrier = threading.Barrier(writers)
    results: list[object] = [None] * writers

    def write(i: int) -> None:
        name = f"tenant{i}"
        barrier.wait()
        try:
            results[i] = stores[i].commit(
                [Change(Key(Kind.TENANT, name), None, Tenant(name=name))],
                expected_revision=0,
                actor=f"writer{i}",
                operation="put",
            )
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert all(isinstance(r, StaleRevision) and r.head == 1 for r in losers), results
        head, intent = stores[0].load()
        assert head == 1
        assert sum(1 for t in intent.tenants if t.startswith("tenant")) == 1
    finally:
        for s in stores:
            s.close()


def test_reopening_continues_where_it_was(store_url: str) -> None:
    with Store.open(store_url) as first:
        save(first, seed())
        first.commit([], expected_revision=1, actor="a", operation="noop", allocations={("segment", "x"): 10000})
    with Store.open(store_url) as again:
        head, intent = again.load()
        assert head == 2
        assert objects(intent) == objects(seed())
        assert again.load_allocations() == {("segment", "x"): 10000}


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(steps=st.lists(intents(max_tenants=3, max_segments=3, max_endpoints=3), min_size=1, max_size=3))
def test_any_sequence_of_intents_round_trips_and_replays(store: Store, steps: list[Intent]) -> None:
    # The store is shared across examples: each step commits the difference from whatever is stored.
    for intent in steps:
        before = store.head()
        info = save(store, intent)
        head, loaded = store.load()
        assert head == (before if info is None else before + 1)
        assert objects(loaded) == objects(intent)
    # The audit log alone adds up to the stored intent, and so does the model's replay of it (how another
    # controller process catches up).
    stored = objects(store.load()[1])
    assert logged_objects(store) == stored
    assert objects(replayed(store)) == stored


def test_every_kind_round_trips_field_for_field(store: Store) -> None:
    intent = seed()
    intent = put(intent, Key(Kind.SEGMENT, DEMO, "empty"), Segment(name="empty"))
    save(store, intent)
    loaded = store.load()[1]
    kinds = set()
    for key, obj in intent.objects():
        kinds.add(key.kind)
        again = loaded.get(key)
        assert type(again) is type(obj) and again == obj
        assert again.model_dump() == obj.model_dump()
    assert kinds == set(Kind)
