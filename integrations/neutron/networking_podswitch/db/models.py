"""The journal's tables, in Neutron's own database (created by `neutron-db-manage --subproject
networking-podswitch upgrade heads`; the migrations in `db/migration` say the same)."""

from __future__ import annotations

import sqlalchemy as sa
from neutron_lib.db import model_base

# SQLite (Neutron's unit tests) numbers rows only with a plain INTEGER primary key.
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

PENDING = "pending"
COMPLETED = "completed"
FAILED = "failed"


class JournalRow(model_base.BASEV2):
    """One change Neutron committed: which objects it touched (tags, see `mapping`), where their intent was
    before it (`old`, podswitch paths), and how sending it went."""

    __tablename__ = "podswitch_journal"

    seq = sa.Column(_SEQ, primary_key=True, autoincrement=True)
    object_type = sa.Column(sa.String(16), nullable=False)
    object_id = sa.Column(sa.String(64), nullable=False)
    operation = sa.Column(sa.String(16), nullable=False)
    # ids of the objects the row's objects live under (its network, its project), space separated: a row
    # waits for older rows about itself or about one of these
    parents = sa.Column(sa.String(255), nullable=False)
    tags = sa.Column(sa.Text, nullable=False)  # JSON list
    old = sa.Column(sa.Text, nullable=False)  # JSON list of podswitch paths
    state = sa.Column(sa.String(16), nullable=False, default=PENDING)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    last_error = sa.Column(sa.Text, nullable=True)
    revision = sa.Column(sa.BigInteger, nullable=True)  # the controller's revision once applied
    created_at = sa.Column(sa.DateTime, nullable=False)
    updated_at = sa.Column(sa.DateTime, nullable=True)

    __table_args__ = (
        sa.Index("ix_podswitch_journal_state_seq", "state", "seq"),
        model_base.BASEV2.__table_args__,
    )


class Lease(model_base.BASEV2):
    """Who may send the journal (and run the checks) now: one process of all neutron-servers at a time."""

    __tablename__ = "podswitch_lease"

    name = sa.Column(sa.String(32), primary_key=True)
    holder = sa.Column(sa.String(255), nullable=True)
    expires_at = sa.Column(sa.DateTime, nullable=True)


class Status(model_base.BASEV2):
    """Small facts for `podswitch-neutron journal status`: last sync, last consistency check."""

    __tablename__ = "podswitch_status"

    name = sa.Column(sa.String(32), primary_key=True)
    value = sa.Column(sa.Text, nullable=False)
    updated_at = sa.Column(sa.DateTime, nullable=False)


class ProjectName(model_base.BASEV2):
    """The name each project's tenant is called by (learnt from Keystone or the request), so that every
    event of a project names its tenant alike; a rename is a journal row of its own."""

    __tablename__ = "podswitch_project"

    project_id = sa.Column(sa.String(64), primary_key=True)
    name = sa.Column(sa.String(255), nullable=False)


class PortWait(model_base.BASEV2):
    """A bound port whose endpoint was written at `revision`: held DOWN until its leaves applied that."""

    __tablename__ = "podswitch_port_wait"

    port_id = sa.Column(sa.String(64), primary_key=True)
    interface_group = sa.Column(sa.String(64), nullable=False)
    revision = sa.Column(sa.BigInteger, nullable=True)  # set once the endpoint is sent
