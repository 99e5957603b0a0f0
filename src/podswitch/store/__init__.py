"""Persistence: the intent at head, its revisions with an audit trail, allocations and switch status.

SQLAlchemy 2 (Core) with Alembic migrations; SQLite in WAL mode embedded by default, PostgreSQL by URL for
several controller processes. Imports only `podswitch.model`."""

from .faults import Fault, StoreUnavailable
from .migrate import SchemaError
from .store import (
    DATABASE_URL_ENV,
    AllocationKey,
    CatchUp,
    RevisionInfo,
    Rows,
    StaleRevision,
    Store,
    StoreError,
    Writer,
    prepare_rows,
)

__all__ = [
    "DATABASE_URL_ENV",
    "AllocationKey",
    "CatchUp",
    "Fault",
    "RevisionInfo",
    "Rows",
    "SchemaError",
    "StaleRevision",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Writer",
    "prepare_rows",
]
