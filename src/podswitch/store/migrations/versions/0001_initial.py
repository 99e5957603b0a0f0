"""Initial schema: fabric head, intent objects, revisions and their changes, allocations, switch status.

Written out in full rather than importing store.schema: a migration describes the schema as it was when
the migration was written, whatever the code looks like later.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REV = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY = sa.String(200)


def upgrade() -> None:
    fabric = op.create_table(
        "fabric",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", REV, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_fabric_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fabric")),
    )
    op.bulk_insert(fabric, [{"id": 1, "revision": 0}])
    op.create_table(
        "revision",
        sa.Column("revision", REV, autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", KEY, nullable=False),
        sa.Column("operation", KEY, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("change_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_revision")),
    )
    op.create_table(
        "intent_object",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant", KEY, nullable=False),
        sa.Column("segment", KEY, nullable=False),
        sa.Column("name", KEY, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("revision", REV, nullable=False),
        sa.PrimaryKeyConstraint("kind", "tenant", "segment", "name", name=op.f("pk_intent_object")),
    )
    op.create_table(
        "change",
        sa.Column("revision", REV, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant", KEY, nullable=False),
        sa.Column("segment", KEY, nullable=False),
        sa.Column("name", KEY, nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["revision"], ["revision.revision"], name=op.f("fk_change_revision_revision"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("revision", "seq", name=op.f("pk_change")),
    )
    op.create_table(
        "allocation",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_allocation")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_allocation_kind_value")),
    )
    op.create_table(
        "switch_status",
        sa.Column("switch", KEY, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("switch", name=op.f("pk_switch_status")),
    )


def downgrade() -> None:
    for table in ("switch_status", "allocation", "change", "intent_object", "revision", "fabric"):
        op.drop_table(table)
