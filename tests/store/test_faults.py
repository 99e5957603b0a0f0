"""Database faults at the store: a stopped PostgreSQL is `StoreUnavailable` (unreachable) on every operation,
a write during the outage leaves nothing behind, and the same `Store` works again once the database is back,
with no reopening. On a PostgreSQL cluster the test owns (`pg_cluster.py`), stopped and started for real."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from podswitch.model import Key, Kind, Tenant, diff, put
from podswitch.store import Fault, Store, StoreUnavailable
from podswitch.store.faults import classify
from tests.store.helpers import save
from tests.store.pg_cluster import Cluster
from tests.store.test_commit import seed

pytestmark = pytest.mark.postgres


def _one_more_tenant(store: Store, name: str) -> None:
    head, current = store.load()
    new = put(current, Key(Kind.TENANT, name), Tenant(name=name))
    store.commit(diff(current, new), expected_revision=head, actor="tester", operation="put")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_stopped_postgresql_is_unavailable_and_the_same_store_recovers(pg_cluster: Cluster, mode: str) -> None:
    with Store.open(pg_cluster.url.render_as_string(hide_password=False)) as store:
        assert save(store, seed()) is not None
        head, before = store.load()
        pg_cluster.stop(mode)
        for operation in (store.head, store.load, lambda: store.history(), lambda: _one_more_tenant(store, "t2")):
            with pytest.raises(StoreUnavailable) as caught:
                operation()
            assert caught.value.kind is Fault.UNREACHABLE
            assert str(caught.value).startswith("the database is unreachable: ")
            assert caught.value.status == 503 and caught.value.retry_after > 0
        assert not store.health.up and store.health.fault is not None
        pg_cluster.start()
        # The same store, no reopening: the pool drops its dead connections and makes new ones.
        assert store.head() == head and store.health.up
        assert store.load() == (head, before)  # the write tried during the outage left nothing
        _one_more_tenant(store, "t3")
        assert store.head() == head + 1
        assert [c.key.tenant for _, c in store.changes_between(head)] == ["t3"]


def test_opening_a_store_on_a_stopped_postgresql_says_why(pg_cluster: Cluster) -> None:
    pg_cluster.stop()
    with pytest.raises(StoreUnavailable) as caught:
        Store.open(pg_cluster.url.render_as_string(hide_password=False))
    assert caught.value.kind is Fault.UNREACHABLE
    assert f"port {pg_cluster.port}" in str(caught.value)


def test_errors_that_are_not_the_databases_own_stay_what_they_are() -> None:
    """A bug (bad SQL) must never be answered "the database is down"."""
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
            conn.execute(text("SELECT * FROM no_such_table"))
    finally:
        engine.dispose()
    assert classify(caught.value) is None
