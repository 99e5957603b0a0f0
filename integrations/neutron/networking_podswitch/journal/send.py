"""Send a batch of journal rows as ONE `POST /v1/transactions`.

Each row names the Neutron objects it touched (tags) and where their intent was before (old paths). What
is sent is computed now, from Neutron's committed state (`view.load`), by the pure mapping: a row sent late
(after an outage) sends what Neutron holds now, never a stale copy, and sending it twice is harmless (puts
replace, deletes are `missing_ok`). Rows go in order within the transaction, so a network's segment comes
before its ports' endpoints however the batch is cut.

Tenant system's logical-router is shared with operators and every tenant: the batch changes only its own
tenants' lines of it, read just before, in the same transaction, conditional on the revision read (412:
read again)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from neutron_lib.db import api as db_api

from podswitch.client import ApiError, Client, Missing, PreconditionFailed
from podswitch.model import Key, Kind, LogicalRouter, Operation, Put
from podswitch.model.paths import key_of

from .. import mapping, view
from .rows import Row

log = logging.getLogger(__name__)

SYSTEM_ROUTER = Key(Kind.LOGICAL_ROUTER, mapping.SYSTEM)
RACES = 5  # reads of system's router per batch before leaving it to the next pass


@dataclass
class Outcome:
    """What became of a batch: rows applied (at `revision`), or the row the controller refused (a batch of
    one, with the controller's words), or `split`: a batch of several was refused (send it in halves)."""

    completed: list[Row] = field(default_factory=list)
    revision: int | None = None
    refused: tuple[Row, str] | None = None
    split: bool = False
    operations: list[Operation] = field(default_factory=list)


def build(context: Any, rows: list[Row], settings: mapping.Settings) -> tuple[list[Operation], dict[str, bool]]:
    """The batch's operations, row after row, and the lines of system's router to set."""
    tags = {tag for row in rows for tag in row.tags}
    with db_api.CONTEXT_READER.using(context):
        seen = view.load(context, tags, settings)
    want = mapping.desired(seen, settings)
    operations: list[Operation] = []
    links: dict[str, bool] = {}
    for row in rows:
        plan = mapping.plan(want, row.tags, [key_of(path) for path in row.old])
        operations += plan.operations
        links.update(plan.links)
    return operations, links


def system_router(client: Client) -> tuple[int, LogicalRouter | None]:
    """System's logical-router and a revision at or before the one it was read at."""
    revision = client.revision()
    try:
        router = client.get_object(SYSTEM_ROUTER)
    except Missing:
        return revision, None
    assert isinstance(router, LogicalRouter)
    return revision, router


def send(context: Any, client: Client, rows: list[Row], settings: mapping.Settings) -> Outcome:
    """One transaction for `rows`. `Unavailable` (controller down, overloaded, failing) propagates: the
    rows stay pending and the worker backs off."""
    operations, links = build(context, rows, settings)
    for _ in range(RACES):
        extra: list[Operation] = []
        if_revision = None
        if links:
            revision, current = system_router(client)
            changed = mapping.linked_to_system(current, links)
            if changed is not None:
                extra, if_revision = [Put(SYSTEM_ROUTER, changed)], revision
        if not operations and not extra:
            return Outcome(completed=rows)
        try:
            result = client.transaction(operations + extra, if_revision=if_revision)
        except PreconditionFailed:
            continue  # the intent moved between our read of system's router and the write: read again
        except ApiError as exc:
            if exc.status is None or exc.retryable:
                raise
            # The operation the controller names is where it found the problem, not always its cause (a
            # claimed VLAN is found at the segment whose member claims it): pin a refusal only to a row sent
            # alone, and cut a batch in halves until it is.
            if len(rows) > 1:
                return Outcome(split=True)
            return Outcome(refused=(rows[0], str(exc)))
        return Outcome(completed=rows, revision=int(result["revision"]), operations=operations)
    raise PreconditionFailed(f"tenant system's logical-router changed {RACES} times while this batch was sent")
