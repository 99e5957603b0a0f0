"""History: listing and paging revisions, the changes of one revision, replaying a range (how another
controller process catches up), and reverting a revision as a new one."""

from __future__ import annotations

from itertools import pairwise

import pytest

from podswitch.model import (
    Change,
    Intent,
    Key,
    Kind,
    NotFound,
    Segment,
    Tenant,
    apply_changes,
    delete,
    diff,
    put,
)
from podswitch.store import Store
from tests.builders import DEMO, SEED_ENDPOINT, demo_tenant, endpoint, pod
from tests.store.helpers import logged_objects, objects, replayed, save


def grow(store: Store, revisions: int) -> list[Intent]:
    """Commit `revisions` revisions (a POD, the demo tenant, then one segment each); return the intent at
    every revision, index = revision number."""
    intents = [Intent()]
    intent = demo_tenant(pod(servers={"osvdev0013": "leaf1"}))
    for n in range(1, revisions + 1):
        if n > 1:
            intent = put(intent, Key(Kind.SEGMENT, DEMO, f"net{n}"), Segment(name=f"net{n}"))
        info = save(store, intent, actor=f"user{n}", operation="put")
        assert info is not None and info.revision == n
        intents.append(intent)
    return intents


def test_history_lists_newest_first_and_pages_back(store: Store) -> None:
    grow(store, 7)
    assert [i.revision for i in store.history()] == [7, 6, 5, 4, 3, 2, 1]
    assert [i.revision for i in store.history(limit=3)] == [7, 6, 5]
    assert [i.revision for i in store.history(limit=3, before=5)] == [4, 3, 2]
    assert [i.revision for i in store.history(limit=3, before=2)] == [1]
    assert store.history(limit=3, before=1) == []
    infos = store.history()
    assert [i.actor for i in infos] == [f"user{n}" for n in range(7, 0, -1)]
    assert all(a.created_at >= b.created_at for a, b in pairwise(infos))
    assert store.revision_info(4) == infos[3]


def test_unknown_revisions_are_not_found(store: Store) -> None:
    grow(store, 2)
    for missing in (0, 3, 99, -1):
        with pytest.raises(NotFound):
            store.revision_info(missing)
        with pytest.raises(NotFound):
            store.revision_changes(missing)


def test_revision_changes_page_in_commit_order(store: Store) -> None:
    grow(store, 1)
    all_changes = store.revision_changes(1)
    assert len(all_changes) == store.revision_info(1).change_count > 10
    assert store.revision_changes(1, limit=4) == all_changes[:4]
    assert store.revision_changes(1, limit=4, offset=4) == all_changes[4:8]
    assert store.revision_changes(1, offset=len(all_changes) - 2) == all_changes[-2:]
    # Commit order is diff order: every parent before its children.
    seen: set[Key] = set()
    for change in all_changes:
        parent = change.key.parent
        assert parent is None or parent in seen or parent == Key(Kind.TENANT, "system")
        seen.add(change.key)


def test_replaying_any_range_reproduces_the_stored_intent(store: Store) -> None:
    intents = grow(store, 5)
    for upto in range(6):
        assert objects(replayed(store, upto)) == objects(intents[upto])
    # A follower at revision 2 catches up with what came after.
    tail = store.changes_between(2)
    assert sorted({rev for rev, _ in tail}) == [3, 4, 5]
    caught_up = apply_changes(intents[2], (c for _, c in tail))
    assert objects(caught_up) == objects(store.load()[1]) == objects(intents[5])
    assert store.changes_between(5) == []
    assert [rev for rev, _ in store.changes_between(1, 3)] == [2, 3]


def test_revert_is_a_new_revision_that_restores_the_earlier_intent(store: Store) -> None:
    intents = grow(store, 1)
    before_change = intents[1]
    moved = endpoint(SEED_ENDPOINT, "osvdev0013", 300, "10.66.16.77", "fa:16:3e:ef:4f:f4")
    changed = put(before_change, Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT), moved)
    changed = delete(changed, Key(Kind.MEMBER, DEMO, "net_demo", "osvdev0013:300"))
    changed = put(changed, Key(Kind.TENANT, "blue"), Tenant(name="blue", origination="openstack"))
    changed = put(changed, Key(Kind.SEGMENT, "blue", "web"), Segment(name="web"))
    assert save(store, changed, actor="oops", operation="put").revision == 2

    # What the service does: undo = put back every `before`, last change first; commit the difference.
    undo = [Change(c.key, c.after, c.before) for c in reversed(store.revision_changes(2))]
    head, current = store.load()
    reverted = apply_changes(current, undo)
    info = store.commit(
        diff(current, reverted), expected_revision=head, actor="admin", operation="revert", summary="revert revision 2"
    )
    assert info is not None and info.revision == 3 and info.operation == "revert"
    assert objects(store.load()[1]) == objects(before_change)
    # History keeps all three: the mistake is still there to see.
    assert [i.revision for i in store.history()] == [3, 2, 1]
    assert {c.key for c in store.revision_changes(3)} == {c.key for c in store.revision_changes(2)}
    assert logged_objects(store) == objects(before_change)


def test_replay_of_an_endpoint_moving_between_segments(store: Store) -> None:
    first = put(demo_tenant(), Key(Kind.SEGMENT, DEMO, "other"), Segment(name="other"))
    save(store, first)
    ep = first.get(Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT))
    second = put(
        delete(first, Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT)),
        Key(Kind.ENDPOINT, DEMO, "other", SEED_ENDPOINT),
        ep,
    )
    save(store, second)
    assert logged_objects(store) == objects(store.load()[1]) == objects(second)
    assert objects(replayed(store)) == objects(second)
