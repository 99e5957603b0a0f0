"""One reconcile of one switch, as the concerns see it: the desired state, the namespace handles, the
transaction every write goes through, and the `Result` that the outcomes of those writes fill.

A concern (`links`, `bridges`, `attachments`, `slices`, `policy`) reads the kernel through `run.ns(name)`,
computes its writes (pure functions over desired + observed state, returning a `writes.WritePlan`) and hands
them to `run.apply(plan)` / `run.commit(writes)`. Applied writes note their `record` in the result, failed
ones become errors of their own; one failing object never stops the rest."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..fabric.state import SegmentBridge, SwitchState
from .kernel import Namespace, describe_error, ip_text
from .writes import (
    LINK_MESSAGES,
    Committed,
    KernelWrite,
    NetlinkWrite,
    Transaction,
    WriteOutcome,
    WritePlan,
    WriteStatus,
)

if TYPE_CHECKING:
    from .reconcile import Reconciler

log = logging.getLogger("podswitch.agent.reconcile")

MAX_LOGGED_ERRORS = 20


@dataclass
class Result:
    """What one reconcile did. `writes` counts kernel write requests: netlink requests (each entry of a
    batch counts once), sysctl writes, namespace creations/removals and nft transactions."""

    switch: str
    netns: str | None
    writes: int = 0
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # fabric and attachment ports: "up" | "down"
    scope: str = "full"  # what the run looked at (see scope.Scope.describe)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"writes={self.writes} created={len(self.created)} changed={len(self.changed)} "
            f"removed={len(self.removed)} errors={len(self.errors)} scope={self.scope} took={self.seconds * 1000:.0f}ms"
        )


class Run:
    """The state of one reconcile: `desired`, `result`, the switch namespace's name (`netns`) and handle
    (`sw`, once open), and `txn`, the transaction of the run."""

    def __init__(self, rec: Reconciler, desired: SwitchState) -> None:
        self.rec = rec
        self.desired = desired
        self.netns = rec.netns
        self.result = Result(switch=desired.switch, netns=rec.netns)
        self.txn = Transaction(lambda name: self.ns(name).rt)
        self._spaces: dict[str | None, Namespace] = {}
        self.loopback = ip_text(desired.loopback.split("/")[0]) if desired.loopback else None
        self.bridges: dict[int, SegmentBridge] = {b.vni: b for b in desired.bridges}
        self.bridge_by_name: dict[str, SegmentBridge] = {b.bridge: b for b in desired.bridges}

    @property
    def sw(self) -> Namespace:
        return self.ns(self.netns)

    # -- handles

    def ns(self, name: str | None) -> Namespace:
        """The handle on namespace `name`, opened (and its link cache emptied) once per run."""
        h = self._spaces.get(name)
        if h is None:
            h = self._spaces[name] = self.rec.handle(name)
        return h

    def drop(self, name: str) -> None:
        """Close the handle on a namespace that is about to go."""
        self._spaces.pop(name, None)
        self.rec.drop(name)

    # -- errors

    def error(self, what: str, e: BaseException | str) -> None:
        text = e if isinstance(e, str) else describe_error(e)
        self.result.errors.append(f"{what}: {text}")
        # A systematic failure can hit thousands of objects: log the first few, the Result has them all.
        if len(self.result.errors) <= MAX_LOGGED_ERRORS:
            log.warning("reconcile %s: %s: %s", self.desired.switch, what, text)
        elif len(self.result.errors) == MAX_LOGGED_ERRORS + 1:
            log.warning("reconcile %s: more errors, not logged one by one", self.desired.switch)

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as e:
            self.error(what, e)

    # -- writes

    def commit(
        self, writes: Iterable[KernelWrite] = (), *, report: bool = True, forget_links: bool = True
    ) -> Committed:
        """Add `writes` to the run's transaction and commit it (with whatever was added before). Applied
        writes note their record in the result; a failure is an error of its own unless `report` is False
        (the caller tries again another way). A namespace where links changed reads its links afresh next
        time they are looked at, unless `forget_links` is False (the caller re-reads the one link)."""
        self.txn.extend(writes)
        committed = self.txn.commit()
        res = self.result
        notes = {"created": res.created.append, "changed": res.changed.append, "removed": res.removed.append}
        relinked: set[str | None] = set()
        problems, failed = committed.problems, WriteStatus.FAILED
        for w in committed.writes:
            # Once per write, tens of thousands of times for a leaf's FDB: a clean commit skips the lookup.
            problem = None if committed.clean else problems.get(id(w))
            if problem is None:
                record = w.record
                if record is not None:
                    notes[record[0]](record[1])
            elif problem.status is failed and report:
                self.error(w.what, problem.describe())
            if forget_links and type(w) is NetlinkWrite and w.op.type in LINK_MESSAGES:
                relinked.add(w.netns)
        for name in relinked:
            if name in self._spaces:
                self._spaces[name].forget_links()
        return committed

    def apply(self, plan: WritePlan, *, report: bool = True) -> Committed:
        """Report the objects `plan` could not plan, and commit its writes."""
        for what, why in plan.errors:
            self.error(what, why)
        return self.commit(plan.writes, report=report)


def failed_keys(outcomes: Iterable[WriteOutcome]) -> set[Hashable]:
    """The keys of the writes that did not apply."""
    return {o.write.key for o in outcomes if not o.applied}
