"""Allocations (small numbers the fabric compiler hands out, kept with the intent) and observed switch
status (what agents report: not intent, not audited)."""

from __future__ import annotations

import pytest

from podswitch.model import Change, Key, Kind, Tenant
from podswitch.store import StaleRevision, Store, StoreError

VNI = "segment"


def test_allocations_commit_with_the_intent(store: Store) -> None:
    tenant = Change(Key(Kind.TENANT, "blue"), None, Tenant(name="blue"))
    info = store.commit(
        [tenant],
        expected_revision=0,
        actor="a",
        operation="put",
        allocations={("tenant", "blue"): 1, (VNI, "blue/web"): 10000},
    )
    assert info is not None and info.revision == 1
    assert store.load_allocations() == {("tenant", "blue"): 1, (VNI, "blue/web"): 10000}


def test_allocation_only_change_is_a_revision_without_object_changes(store: Store) -> None:
    # The compiled state depends on allocations, so a change to them must move the revision (caches and
    # agents key on it), even though no object changed.
    info = store.commit(
        [], expected_revision=0, actor="a", operation="allocate", allocations={(VNI, "blue/web"): 10000}
    )
    assert info is not None and info.revision == 1 and info.change_count == 0
    assert store.revision_changes(1) == []
    # Setting the same values again is nothing to do.
    assert (
        store.commit([], expected_revision=1, actor="a", operation="allocate", allocations={(VNI, "blue/web"): 10000})
        is None
    )
    assert store.head() == 1


def test_values_move_between_keys_and_none_releases(store: Store) -> None:
    store.commit(
        [],
        expected_revision=0,
        actor="a",
        operation="allocate",
        allocations={(VNI, "a"): 10000, (VNI, "b"): 10001, (VNI, "c"): 10002, ("switch", "a"): 10000},
    )
    # Swap a and b, release c, hand c's number to a new key d - all in one commit.
    store.commit(
        [],
        expected_revision=1,
        actor="a",
        operation="allocate",
        allocations={(VNI, "a"): 10001, (VNI, "b"): 10000, (VNI, "c"): None, (VNI, "d"): 10002},
    )
    assert store.load_allocations() == {
        (VNI, "a"): 10001,
        (VNI, "b"): 10000,
        (VNI, "d"): 10002,
        ("switch", "a"): 10000,
    }
    # Releasing a key that holds nothing is harmless.
    store.commit(
        [], expected_revision=2, actor="a", operation="allocate", allocations={(VNI, "never"): None, (VNI, "e"): 10003}
    )
    assert store.load_allocations()[(VNI, "e")] == 10003


def test_a_value_taken_by_another_key_is_refused_and_nothing_is_written(store: Store) -> None:
    store.commit([], expected_revision=0, actor="a", operation="allocate", allocations={(VNI, "a"): 10000})
    tenant = Change(Key(Kind.TENANT, "blue"), None, Tenant(name="blue"))
    with pytest.raises(StoreError):
        store.commit([tenant], expected_revision=1, actor="a", operation="put", allocations={(VNI, "b"): 10000})
    assert store.head() == 1
    assert store.load_allocations() == {(VNI, "a"): 10000}
    assert store.load()[1].get(Key(Kind.TENANT, "blue")) is None


def test_stale_allocation_commit_is_refused(store: Store) -> None:
    store.commit([], expected_revision=0, actor="a", operation="allocate", allocations={(VNI, "a"): 10000})
    with pytest.raises(StaleRevision):
        store.commit([], expected_revision=0, actor="a", operation="allocate", allocations={(VNI, "b"): 10001})
    assert store.load_allocations() == {(VNI, "a"): 10000}


def test_switch_status_is_kept_per_switch_and_not_audited(store: Store) -> None:
    assert store.switch_statuses() == {}
    store.put_switch_statuses({"leaf1": {"applied_revision": 3, "errors": []}})
    store.put_switch_statuses({"leaf2": {"applied_revision": 2, "links": {"swp49": "up"}}})
    store.put_switch_statuses({"leaf1": {"applied_revision": 4, "errors": ["vxlan10000: exists"]}})
    assert store.switch_statuses() == {
        "leaf1": {"applied_revision": 4, "errors": ["vxlan10000: exists"]},
        "leaf2": {"applied_revision": 2, "links": {"swp49": "up"}},
    }
    assert store.head() == 0 and store.history() == []


def test_switch_status_survives_reopening(store_url: str) -> None:
    with Store.open(store_url) as first:
        first.put_switch_statuses({"spine1": {"applied_revision": 9}})
    with Store.open(store_url) as again:
        assert again.switch_statuses() == {"spine1": {"applied_revision": 9}}


def test_consistency_hashes_are_kept_per_origination_across_reopening(store_url: str) -> None:
    with Store.open(store_url) as first:
        assert first.consistency_hash("openstack") is None
        first.put_consistency_hash("openstack", "h1")
        first.put_consistency_hash("openstack2", "x")
        first.put_consistency_hash("openstack", "h2")
    with Store.open(store_url) as again:
        assert (again.consistency_hash("openstack"), again.consistency_hash("openstack2")) == ("h2", "x")
        assert again.head() == 0  # not intent: no revision
