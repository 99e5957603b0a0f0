"""Agents' status reports, written to the store in groups.

Every change reaches every agent it touches, and each one reports right after applying it: a change on a
POD of eight leaves makes eight reports within a few milliseconds. One transaction each made eight turns
at the store's single write lock, on the path of the next intent write. Here the reports that arrive while
one group is being written wait and go together in the next transaction (group commit, as databases do for
their log): the write lock is taken about once per burst instead of once per agent. Every report is still
written before its request is answered, so an answered report is never lost."""

from __future__ import annotations

import threading
from typing import Any

from ..store import Store

KEEP_FAILED = 64


class StatusReports:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._cond = threading.Condition()
        self._pending: dict[str, dict[str, Any]] = {}
        self._batch = 0  # the group the next report joins
        self._written = -1  # the last group whose transaction has ended
        self._failed: dict[int, BaseException] = {}  # recent groups that failed, and why
        self._writing = False

    def put(self, switch: str, body: dict[str, Any]) -> None:
        """Record `body` as `switch`'s report; returns once a transaction holding it has committed, raises
        what that transaction raised (a later report of the same switch in the same group wins)."""
        with self._cond:
            self._pending[switch] = body
            mine = self._batch
            while self._written < mine:
                if self._writing:
                    self._cond.wait()
                    continue
                self._write_group()
            error = self._failed.get(mine)
            if error is not None:
                raise error

    def _write_group(self) -> None:
        """Write everything pending as one group (called holding the condition; releases it meanwhile)."""
        group, reports = self._batch, self._pending
        self._pending = {}
        self._batch += 1
        self._writing = True
        self._cond.release()
        error: BaseException | None = None
        try:
            self.store.put_switch_statuses(reports)
        except BaseException as e:  # handed to every reporter of this group
            error = e
        finally:
            self._cond.acquire()
            self._writing = False
            self._written = group
            if error is not None:
                self._failed[group] = error
                # A waiter looks at its group's entry as soon as it runs again; older ones are long read.
                for old in [g for g in self._failed if g < group - KEEP_FAILED]:
                    del self._failed[old]
            self._cond.notify_all()
