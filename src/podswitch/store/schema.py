"""The store's tables, in SQLAlchemy Core. Migrations create them (store/migrations); this module is what the
code queries and what `alembic revision --autogenerate` compares against.

Key columns hold `model.Key` parts with "" for an absent part (never NULL), so they can form a primary key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

# Revisions only grow; 64-bit on PostgreSQL. On SQLite only "INTEGER PRIMARY KEY" is the fast rowid alias.
RevisionType = BigInteger().with_variant(Integer(), "sqlite")

# Names long enough for every key part (names are 1-64 chars; member keys are "group:vlan"; link keys are
# "sw:if-sw:if"). String without a length would be TEXT on PostgreSQL, equally fast; a bound documents intent.
KEY_LEN = 200


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out. SQLite has no time zones and hands back naive values; PostgreSQL
    returns them in the session's zone. Either way callers get UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row (id = 1): the current revision. Writers lock it first (SELECT ... FOR UPDATE on PostgreSQL; on
# SQLite BEGIN IMMEDIATE already holds the database's single write lock), so commits are serialised and a
# writer that read an older head is told so instead of overwriting.
fabric = Table(
    "fabric",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", RevisionType, nullable=False),
    CheckConstraint("id = 1", name="singleton"),
)

# One row per revision: who changed what, when, and how many objects it touched.
revision = Table(
    "revision",
    metadata,
    Column("revision", RevisionType, primary_key=True, autoincrement=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("actor", String(KEY_LEN), nullable=False),
    Column("operation", String(KEY_LEN), nullable=False),
    Column("summary", Text, nullable=False),
    Column("change_count", Integer, nullable=False),
)

# The intent at head: one row per object, its body the object's JSON.
intent_object = Table(
    "intent_object",
    metadata,
    Column("kind", String(32), nullable=False),
    Column("tenant", String(KEY_LEN), nullable=False),
    Column("segment", String(KEY_LEN), nullable=False),
    Column("name", String(KEY_LEN), nullable=False),
    Column("body", Text, nullable=False),
    # The revision that last wrote the object (not a foreign key: it would cost a lookup per row on every
    # bulk write and the revision row is written in the same transaction anyway).
    Column("revision", RevisionType, nullable=False),
    PrimaryKeyConstraint("kind", "tenant", "segment", "name"),
)

# The audit log: every object change of every revision, in the order it was applied, with both bodies.
change = Table(
    "change",
    metadata,
    Column("revision", RevisionType, ForeignKey("revision.revision", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("tenant", String(KEY_LEN), nullable=False),
    Column("segment", String(KEY_LEN), nullable=False),
    Column("name", String(KEY_LEN), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    PrimaryKeyConstraint("revision", "seq"),
)

# Small numbers the fabric compiler hands out (VNIs, indexes). The store does not know what they mean; it
# only keeps them unique per kind and changes them in the same transaction as the intent.
allocation = Table(
    "allocation",
    metadata,
    Column("kind", String(32), nullable=False),
    Column("key", String(KEY_LEN * 2), nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("kind", "key"),
    UniqueConstraint("kind", "value"),
)

# What each switch's agent last reported. Observed, not intended: not audited, no revision.
switch_status = Table(
    "switch_status",
    metadata,
    Column("switch", String(KEY_LEN), primary_key=True),
    Column("body", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Every controller process on this database: where it answers, the revision its snapshot is at and whether
# it holds the duties lease, refreshed every few seconds. The leader prunes history no further back than the
# oldest revision a live controller still has to replay from.
controller = Table(
    "controller",
    metadata,
    Column("id", String(KEY_LEN), primary_key=True),
    Column("address", String(KEY_LEN), nullable=False),
    Column("revision", RevisionType, nullable=False),
    Column("leader", Boolean, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)

# What each orchestrator (a Neutron instance, by its origination) and the controller agree they both hold: the
# consistency hash of the BCF-compatible API. Kept here, not in one process, so that every controller on the
# database answers the same hash and a restart does not make every Neutron server resync.
orchestrator = Table(
    "orchestrator",
    metadata,
    Column("origination", String(KEY_LEN), primary_key=True),
    Column("consistency_hash", String(KEY_LEN), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
