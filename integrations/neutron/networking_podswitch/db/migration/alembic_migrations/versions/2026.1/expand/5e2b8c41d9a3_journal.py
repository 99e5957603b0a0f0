"""the journal, its lease, status, project names and ports waiting for the fabric

Revision ID: 5e2b8c41d9a3
Revises: start_networking_podswitch
"""

import sqlalchemy as sa
from alembic import op
from neutron.db.migration import cli

revision = "5e2b8c41d9a3"
down_revision = "start_networking_podswitch"
branch_labels = (cli.EXPAND_BRANCH,)

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "podswitch_journal",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("parents", sa.String(255), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("old", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("revision", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_podswitch_journal_state_seq", "podswitch_journal", ["state", "seq"])
    op.create_table(
        "podswitch_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("expires_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "podswitch_status",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "podswitch_project",
        sa.Column("project_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
    )
    op.create_table(
        "podswitch_port_wait",
        sa.Column("port_id", sa.String(64), primary_key=True),
        sa.Column("interface_group", sa.String(64), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=True),
    )
