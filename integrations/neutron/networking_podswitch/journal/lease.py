"""One sender at a time across every neutron-server process: a lease row in Neutron's database.

A conditional UPDATE takes it (free, expired, or already ours) and renews it; the row count says who got
it, on MySQL, PostgreSQL and SQLite alike, without holding a lock across the HTTP calls. A process that
dies (kill -9) holds it at most `duration` seconds more."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from neutron_lib.db import api as db_api
from oslo_db import exception as db_exc
from sqlalchemy import or_

from ..db.models import Lease
from .rows import now

JOURNAL = "journal"


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _expired(t: datetime) -> Any:
    return Lease.expires_at < t


def acquire(context: Any, holder: str, duration: float, name: str = JOURNAL) -> bool:
    """Take or renew the lease for `duration` seconds; False while another holder has it."""
    t = now()
    until = t + timedelta(seconds=duration)
    try:
        with db_api.CONTEXT_WRITER.using(context):
            taken = (
                context.session.query(Lease)
                .filter(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at.is_(None), _expired(t)))
                .update({"holder": holder, "expires_at": until}, synchronize_session=False)
            )
            if taken:
                return True
            if context.session.get(Lease, name) is not None:
                return False
            context.session.add(Lease(name=name, holder=holder, expires_at=until))
        return True
    except (db_exc.DBDuplicateEntry, db_exc.DBDeadlock):
        # Another process created it first, or took it in the same instant (MariaDB answers a deadlock when
        # several processes start at once): theirs, for now.
        return False


def release(context: Any, holder: str, name: str = JOURNAL) -> None:
    with db_api.CONTEXT_WRITER.using(context):
        (
            context.session.query(Lease)
            .filter(Lease.name == name, Lease.holder == holder)
            .update({"expires_at": None, "holder": None}, synchronize_session=False)
        )


def holder(context: Any, name: str = JOURNAL) -> tuple[str | None, Any]:
    with db_api.CONTEXT_READER.using(context):
        row = context.session.get(Lease, name)
        return (None, None) if row is None else (row.holder, row.expires_at)
