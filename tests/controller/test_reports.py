"""Agents' status reports go to the store in groups: a burst of reports takes the write lock about once,
every report is in the store when its call returns, and a failed group fails each of its reporters."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from podswitch.controller.reports import StatusReports
from podswitch.store import Store


class GatedStore(Store):
    """A real SQLite store whose first status write waits at a gate: the reports arriving meanwhile pile up,
    as they do when eight agents report within the same milliseconds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.groups: list[list[str]] = []
        self.fail_next = False

    def put_switch_statuses(self, reports: Any) -> None:
        self.groups.append(sorted(reports))
        self.entered.set()
        self.gate.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk on fire")
        super().put_switch_statuses(reports)


@pytest.fixture
def store(tmp_path: Path) -> GatedStore:
    s = GatedStore.open(Store.default_url(tmp_path))
    assert isinstance(s, GatedStore)
    return s


def report(n: int) -> dict[str, Any]:
    return {"status": {"applied_revision": n}}


def burst(reports: StatusReports, store: GatedStore, names: list[str]) -> dict[str, BaseException | None]:
    """The first report holds the write; the others arrive while it is held; then the gate opens."""
    outcome: dict[str, BaseException | None] = {}

    def put(name: str) -> None:
        try:
            reports.put(name, report(int(name[4:])))
            # Answered: the report is in the store already.
            assert store.switch_statuses()[name] == report(int(name[4:]))
            outcome[name] = None
        except BaseException as e:
            outcome[name] = e

    first = threading.Thread(target=put, args=(names[0],))
    first.start()
    assert store.entered.wait(10)
    rest = [threading.Thread(target=put, args=(n,)) for n in names[1:]]
    for t in rest:
        t.start()
    # Every later reporter is queued behind the held write before it is let go.
    for _ in range(1000):
        with reports._cond:
            if len(reports._pending) == len(names) - 1:
                break
        threading.Event().wait(0.01)
    store.gate.set()
    for t in [first, *rest]:
        t.join(10)
    return outcome


def test_a_burst_of_reports_is_written_in_two_transactions_and_each_is_stored_when_answered(store: GatedStore) -> None:
    reports = StatusReports(store)
    names = [f"leaf{i}" for i in range(1, 9)]
    outcome = burst(reports, store, names)
    assert outcome == dict.fromkeys(names)
    assert store.groups == [["leaf1"], names[1:]]
    assert {n: s for n, s in store.switch_statuses().items()} == {n: report(int(n[4:])) for n in names}


def test_a_failed_group_fails_every_report_in_it_and_the_next_group_is_written(store: GatedStore) -> None:
    reports = StatusReports(store)
    store.fail_next = True
    names = [f"leaf{i}" for i in range(1, 5)]
    outcome = burst(reports, store, names)
    assert isinstance(outcome["leaf1"], OSError)
    assert all(outcome[n] is None for n in names[1:])
    assert sorted(store.switch_statuses()) == names[1:]
    # The store is fine again: the next report goes through on its own.
    reports.put("leaf1", report(9))
    assert store.switch_statuses()["leaf1"] == report(9)


def test_the_latest_report_of_a_switch_in_a_group_wins(store: GatedStore) -> None:
    reports = StatusReports(store)
    store.gate.set()
    reports.put("leaf1", report(1))
    reports.put("leaf1", report(2))
    assert store.switch_statuses() == {"leaf1": report(2)}
    assert store.groups == [["leaf1"], ["leaf1"]]
