"""Controllers on one store: one duties lease, history pruned no further than a live controller may replay,
a controller that was away longer than the history reloads whole, and the leader's agent watch. On SQLite and
on the machine's PostgreSQL (tests/store/conftest.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from podswitch.controller import Controller, metrics
from podswitch.controller.duties import Duties, DutySettings
from podswitch.model import Key, Kind, NotFound, Put, Tenant
from podswitch.store import Store
from podswitch.store.cluster import Lease, controllers, heartbeat, oldest_kept, prune_history
from tests.builders import pod
from tests.store.conftest import empty_pg, pg_database, store_url  # noqa: F401  (fixtures)


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[Store, Store]]:  # noqa: F811
    """Two handles on one database, as two controller processes have."""
    with Store.open(store_url) as one, Store.open(store_url) as two:
        yield one, two


def _tenants(ctl: Controller, names: range) -> None:
    for n in names:
        ctl.put_object(Key(Kind.TENANT, f"t{n}"), Tenant(name=f"t{n}"), actor="test")


def test_exactly_one_holds_the_lease_and_it_passes_on_when_released(stores: tuple[Store, Store]) -> None:
    one, two = Lease(stores[0]), Lease(stores[1])
    try:
        assert one.hold() and one.hold()  # taken, then still ours
        assert not two.hold()
        one.release()
        assert two.hold() and not one.hold()
    finally:
        one.release()
        two.release()


def test_history_is_pruned_to_what_is_kept_and_what_live_controllers_need(stores: tuple[Store, Store]) -> None:
    ctl = Controller(stores[0])
    _tenants(ctl, range(30))
    head = ctl.snapshot().revision
    now = datetime.now(UTC)
    lagging = Duties(Controller(stores[1]), "lagging:1").record
    heartbeat(stores[0], replace(lagging, revision=head - 20, seen_at=now))
    assert prune_history(stores[0], keep=5, alive_within=timedelta(minutes=10), now=now) == head - 20
    assert oldest_kept(stores[0]) == head - 19  # the lagging controller replays what came after head - 20
    # Once that controller is gone for longer than alive_within, only `keep` holds history back.
    later = now + timedelta(minutes=11)
    assert prune_history(stores[0], keep=5, alive_within=timedelta(minutes=10), now=later) == 15
    assert oldest_kept(stores[0]) == head - 4
    assert [info.revision for info in ctl.history(limit=100)] == list(range(head, head - 5, -1))


def test_a_controller_behind_pruned_history_reloads_whole(stores: tuple[Store, Store]) -> None:
    writer, away = Controller(stores[0]), Controller(stores[1])
    _tenants(writer, range(12))
    assert away.snapshot().revision < writer.snapshot().revision - 3
    prune_history(stores[0], keep=3, alive_within=timedelta(0))
    assert stores[1].catch_up(away.snapshot().revision).complete is False
    # A write through the controller that was away lands on the whole, current intent.
    away.put_object(Key(Kind.TENANT, "late"), Tenant(name="late"), actor="test")
    revision, stored = stores[0].load()
    assert away.snapshot().revision == revision and away.snapshot().intent == stored
    assert {f"t{n}" for n in range(12)} | {"late"} <= set(stored.tenants)


def test_restoring_past_the_kept_history_is_refused(stores: tuple[Store, Store]) -> None:
    ctl = Controller(stores[0])
    _tenants(ctl, range(8))
    prune_history(stores[0], keep=3, alive_within=timedelta(0))
    for gone in (0, 1, ctl.snapshot().revision - 3):
        with pytest.raises(NotFound):
            ctl.restore(gone, actor="test", dry_run=True)
    assert ctl.restore(ctl.snapshot().revision - 2, actor="test", dry_run=True).changes  # still kept


def test_one_of_two_leads_watches_agents_and_a_stop_hands_the_duties_over(stores: tuple[Store, Store]) -> None:
    settings = DutySettings(keep_revisions=4, prune_every=0, silent_after=60)
    first = Duties(Controller(stores[0]), "first:1", settings)
    second = Duties(Controller(stores[1]), "second:1", settings)
    _tenants(first.ctl, range(10))
    changes = metrics.LEADER_CHANGES._value.get()
    pruned = metrics.PRUNED._value.get()
    try:
        first.round()
        second.ctl.refresh(wait=30)  # caught up (a round only starts a catch-up), so its announcement is exact
        second.round()
        assert (first.leading, second.leading) == (True, False)
        assert metrics.LEADER_CHANGES._value.get() == changes + 1
        assert oldest_kept(stores[0]) is not None and oldest_kept(stores[0]) > 1  # the leader pruned
        assert metrics.PRUNED._value.get() == pruned + oldest_kept(stores[0]) - 1  # and counted what it pruned
        listed = {c.address: c for c in controllers(stores[0])}
        assert listed["first:1"].leader and not listed["second:1"].leader
        assert listed["second:1"].revision == second.ctl.snapshot().revision  # followers announce their revision
        first.stop()
        second.round()
        assert second.leading
        assert [c.address for c in controllers(stores[0])] == ["second:1"]  # a clean stop signs off
    finally:
        first.stop()
        second.stop()


def test_the_leader_reports_silent_agents_and_lag(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    ctl = Controller(stores[0])
    ctl.commit(lambda _: pod(), actor="test", operation="replace", full_validation=True)
    switches = sorted(ctl.snapshot().intent.topology.switches)
    compiled = ctl.compiled()
    now = datetime.now(UTC)
    fresh, stale, behind = switches[0], switches[1], switches[2]
    ctl.report_status(fresh, {"status": {"etag": compiled.etag(fresh), "applied_revision": 1}, "seen": now.isoformat()})
    old = (now - timedelta(minutes=5)).isoformat()
    ctl.report_status(stale, {"status": {"etag": compiled.etag(stale)}, "seen": old})
    ctl.report_status(behind, {"status": {"etag": "old", "applied_revision": 0}, "seen": now.isoformat()})
    clock = [now]
    duties = Duties(ctl, "x:1", DutySettings(silent_after=60), clock=lambda: clock[0])
    try:
        with caplog.at_level(logging.WARNING, logger="podswitch.controller.duties"):
            duties.round()
        assert duties.leading
        # Only the one that stopped reporting: those never heard from get `silent_after` from when the leader
        # first watched them (a fresh start, a new switch), not an alarm at once.
        assert metrics.AGENTS_SILENT._value.get() == 1
        assert [r.getMessage() for r in caplog.records if "no report" in r.getMessage()] == [
            f"switch {stale}: no report from its agent for over 60 s"
        ]
        lag = {s: metrics.AGENT_LAG.labels(switch=s)._value.get() for s in (fresh, behind)}
        assert lag == {fresh: 0, behind: ctl.snapshot().revision}
        clock[0] = now + timedelta(seconds=61)
        for name in (fresh, behind):
            ctl.report_status(name, {"status": {"etag": "x"}, "seen": clock[0].isoformat()})
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="podswitch.controller.duties"):
            duties.round()
        assert metrics.AGENTS_SILENT._value.get() == len(switches) - 2  # all but the two reporting recently
        never = sorted(set(switches) - {fresh, stale, behind})
        assert [r.getMessage() for r in caplog.records if "no report" in r.getMessage()] == [
            f"switch {name}: no report from its agent for over 60 s (none ever)" for name in never
        ]
    finally:
        duties.stop()


def test_pruning_goes_in_batches_bounded_by_changes_and_never_splits_a_revision(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    from podswitch.store import cluster

    ctl = Controller(stores[0])
    _tenants(ctl, range(10))  # one change each
    ctl.transact([Put(Key(Kind.TENANT, f"big{n}"), Tenant(name=f"big{n}")) for n in range(5)], actor="test")
    _tenants(ctl, range(10, 13))
    monkeypatch.setattr(cluster, "PRUNE_ROWS", 3)
    batches: list[int] = []
    real = cluster._batch_end

    def spy(conn: object, oldest: int, limit: int) -> int:
        batches.append(real(conn, oldest, limit))  # type: ignore[arg-type]
        return batches[-1]

    monkeypatch.setattr(cluster, "_batch_end", spy)
    head = ctl.snapshot().revision
    assert prune_history(stores[0], keep=2, alive_within=timedelta(0)) == head - 2
    # Four one-change revisions per batch at most (more than 3 rows ends it), the five-change revision alone.
    assert all(b - a <= 4 for a, b in zip([1, *batches], batches, strict=False))
    big = head - 3  # the transaction's revision
    assert big in batches and big + 1 in batches
    assert [info.revision for info in ctl.history(limit=100)] == [head, head - 1]
