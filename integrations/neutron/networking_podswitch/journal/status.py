"""What `podswitch-neutron journal status` shows: backlog, failures, last sync, last check, who sends."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from ..db.models import COMPLETED, FAILED, PENDING, JournalRow, Lease, PortWait, Status


def summary(session: Session, now: datetime, failures: int = 10) -> dict[str, Any]:
    counts: dict[str, int] = dict(
        session.query(JournalRow.state, func.count(JournalRow.seq)).group_by(JournalRow.state).all()
    )
    oldest = session.query(func.min(JournalRow.created_at)).filter(JournalRow.state == PENDING).scalar()
    failed = (
        session.query(JournalRow)
        .filter(JournalRow.state == FAILED)
        .order_by(JournalRow.seq.desc())
        .limit(failures)
        .all()
    )
    facts = {row.name: (json.loads(row.value), row.updated_at) for row in session.query(Status)}
    holder = session.get(Lease, "journal")
    return {
        "pending": int(counts.get(PENDING, 0)),
        "failed": int(counts.get(FAILED, 0)),
        "completed_kept": int(counts.get(COMPLETED, 0)),
        "oldest_pending_age_s": (now - oldest).total_seconds() if oldest else None,
        "failures": [
            {
                "seq": r.seq,
                "row": f"{r.operation} {r.object_type} {r.object_id}",
                "attempts": r.attempts,
                "error": r.last_error,
            }
            for r in failed
        ],
        "last_sync": _fact(facts.get("last_sync")),
        "last_check": _fact(facts.get("last_check")),
        "sender": None
        if holder is None or holder.holder is None or holder.expires_at is None or holder.expires_at < now
        else {"holder": holder.holder, "until": holder.expires_at.isoformat()},
        "ports_waiting": int(session.query(func.count(PortWait.port_id)).scalar() or 0),
    }


def _fact(fact: tuple[dict[str, Any], datetime] | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    value, when = fact
    return {**value, "at": when.isoformat()}
