"""The journal's table: insert (inside Neutron's transaction), the window of pending rows, marking."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from neutron_lib.db import api as db_api

from ..db.models import COMPLETED, FAILED, PENDING, JournalRow, Status
from .dependencies import Pending, retry_delay


def now() -> datetime:
    """Naive UTC, as Neutron keeps its timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Row:
    """A journal row as the sender uses it (detached from any session)."""

    seq: int
    object_type: str
    object_id: str
    operation: str
    parents: frozenset[str]
    tags: tuple[str, ...]
    old: tuple[str, ...]
    attempts: int

    def __str__(self) -> str:
        return f"#{self.seq} {self.operation} {self.object_type} {self.object_id}"


def insert(
    session: Any,
    object_type: str,
    object_id: str,
    operation: str,
    parents: Iterable[str],
    tags: Iterable[str],
    old: Iterable[str],
) -> JournalRow:
    """Add a row in the caller's transaction: it commits or rolls back with Neutron's own change."""
    row = JournalRow(
        object_type=object_type,
        object_id=object_id,
        operation=operation,
        parents=" ".join(sorted({p for p in parents if p}))[:255],
        tags=json.dumps(sorted(set(tags))),
        old=json.dumps(sorted(set(old))),
        state=PENDING,
        attempts=0,
        created_at=now(),
    )
    session.add(row)
    return row


_WINDOW_COLUMNS = (
    JournalRow.seq,
    JournalRow.object_type,
    JournalRow.object_id,
    JournalRow.operation,
    JournalRow.parents,
    JournalRow.tags,
    JournalRow.old,
    JournalRow.attempts,
    JournalRow.updated_at,
)


def window(context: Any, size: int, base: float, cap: float) -> tuple[list[Pending], dict[int, Row]]:
    """The oldest `size` pending rows: what the dependency rule needs, and the rows themselves. Read as plain
    columns, not ORM objects: the window is several batches long and read again for every batch (during a
    drain, loading it as mapped objects was a fifth of the sender's time)."""
    with db_api.CONTEXT_READER.using(context):
        found = (
            context.session.query(*_WINDOW_COLUMNS)
            .filter(JournalRow.state == PENDING)
            .order_by(JournalRow.seq)
            .limit(size)
            .all()
        )
    pending = []
    by_seq = {}
    for seq, object_type, object_id, operation, parents, tags, old, attempts, updated_at in found:
        due = 0.0
        if attempts and updated_at is not None:
            due = updated_at.replace(tzinfo=UTC).timestamp() + retry_delay(attempts, base, cap)
        parent_set = frozenset(str(parents).split())
        pending.append(Pending(int(seq), str(object_id), parent_set, due))
        by_seq[int(seq)] = Row(
            seq=int(seq),
            object_type=str(object_type),
            object_id=str(object_id),
            operation=str(operation),
            parents=parent_set,
            tags=tuple(json.loads(str(tags))),
            old=tuple(json.loads(str(old))),
            attempts=int(attempts),
        )
    return pending, by_seq


def complete(context: Any, seqs: Sequence[int], revision: int | None) -> None:
    with db_api.CONTEXT_WRITER.using(context):
        (
            context.session.query(JournalRow)
            .filter(JournalRow.seq.in_(list(seqs)), JournalRow.state == PENDING)
            .update({"state": COMPLETED, "revision": revision, "updated_at": now()}, synchronize_session=False)
        )
        set_status(context, "last_sync", {"revision": revision, "rows": len(seqs)})


def refused(context: Any, seq: int, error: str, max_attempts: int) -> bool:
    """Count a refusal of the row; True when that made it failed."""
    with db_api.CONTEXT_WRITER.using(context):
        row = context.session.query(JournalRow).filter_by(seq=seq).one()
        row.attempts += 1
        row.last_error = error[:4000]
        row.updated_at = now()
        if row.attempts >= max_attempts:
            row.state = FAILED
        return bool(row.state == FAILED)


def delete_completed(context: Any, older_than: datetime) -> int:
    with db_api.CONTEXT_WRITER.using(context):
        return int(
            context.session.query(JournalRow)
            .filter(JournalRow.state == COMPLETED, JournalRow.updated_at < older_than)
            .delete(synchronize_session=False)
        )


def unfinished(context: Any) -> tuple[int, int | None]:
    """(pending rows, highest seq of all rows): the consistency check's view of the journal."""
    from sqlalchemy import func

    session = context.session
    count = session.query(func.count(JournalRow.seq)).filter(JournalRow.state == PENDING).scalar()
    last = session.query(func.max(JournalRow.seq)).scalar()
    return int(count or 0), last


def set_status(context: Any, name: str, value: dict[str, Any]) -> None:
    """Record a fact for `journal status` (in the caller's writer transaction)."""
    session = context.session
    row = session.get(Status, name)
    if row is None:
        session.add(Status(name=name, value=json.dumps(value), updated_at=now()))
    else:
        row.value = json.dumps(value)
        row.updated_at = now()


def get_status(context: Any, name: str) -> tuple[dict[str, Any], datetime] | None:
    row = context.session.get(Status, name)
    return None if row is None else (json.loads(row.value), row.updated_at)
