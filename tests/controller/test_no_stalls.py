"""What must never wait behind a long write (the probe: a restore dry run held the write lock for 431 s and an
endpoint PUT waited 426 s behind it; a second controller's first request waited 32-183 s for its catch-up).
Deterministic: the tests hold the controller's write lock themselves, the way a long write would."""

from __future__ import annotations

import threading
from pathlib import Path

from podswitch.controller import Controller
from podswitch.model import Key, Kind, Tenant
from podswitch.store import Store
from tests.builders import SEED_PATH


def _controller(tmp_path: Path) -> Controller:
    ctl = Controller(Store.open(Store.default_url(tmp_path)), catch_up_wait=0.2)
    ctl.replace(SEED_PATH.read_text(), actor="test")
    return ctl


def test_a_dry_run_takes_no_lock(tmp_path: Path) -> None:
    ctl = _controller(tmp_path)
    with ctl._write:  # a long write in progress
        done: list[object] = []
        worker = threading.Thread(
            target=lambda: done.extend(
                [
                    ctl.restore(0, actor="t", dry_run=True),
                    ctl.revert(1, actor="t", dry_run=True),
                    ctl.replace("!\n", actor="t", dry_run=True),
                ]
            )
        )
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "a dry run waited for the write lock"
    restore, revert, replace = done
    assert all(o.plan is not None and not o.changed for o in done)  # type: ignore[attr-defined]
    assert len(restore.changes) == len(revert.changes) == len(replace.changes) == 5  # type: ignore[attr-defined]


def test_reads_are_answered_from_the_last_snapshot_while_a_catch_up_waits(tmp_path: Path) -> None:
    first = _controller(tmp_path)
    second = Controller(Store.open(Store.default_url(tmp_path)), catch_up_wait=0.2)
    assert second.snapshot().revision == 1
    first.put_object(Key(Kind.TENANT, "t2"), Tenant(name="t2"), actor="test")  # revision 2, on the other one
    with second._write:  # the second controller is busy with a long write of its own: its catch-up waits
        answered: list[object] = []
        reader = threading.Thread(target=lambda: answered.append(second.refresh()))
        reader.start()
        reader.join(30)
        assert not reader.is_alive(), "a read waited behind the write lock"
    [snap] = answered
    assert snap.revision == 1 and "t2" not in snap.intent.tenants  # type: ignore[attr-defined]  # the last snapshot
    # Once the lock is free, the catch-up that was started completes and the next read sees revision 2.
    assert second.refresh(wait=30).revision == 2
    assert "t2" in second.snapshot().intent.tenants
