"""Orchestrators (Neutron instances) and the consistency hash each shares with the controllers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orchestrator",
        sa.Column("origination", sa.String(200), nullable=False),
        sa.Column("consistency_hash", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("origination", name=op.f("pk_orchestrator")),
    )


def downgrade() -> None:
    op.drop_table("orchestrator")
