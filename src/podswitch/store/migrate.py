"""Bring a database's schema to the newest migration, the same Alembic scripts for SQLite and PostgreSQL.

Several controller processes may start at once against one PostgreSQL database, so the upgrade runs inside
one transaction that first takes a lock (an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite): the
first process migrates, the others wait and then find nothing to do. DDL is transactional on both
databases, so a crash half-way through a migration leaves the old schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text

from .engine import writing

MIGRATIONS = Path(__file__).with_name("migrations")

# Any fixed 64-bit number, the same in every podswitch process: the advisory lock that serialises migration.
_PG_MIGRATION_LOCK = 0x706F_6473_7769_0001


class SchemaError(RuntimeError):
    """The database's schema is not one this version of podswitch can use."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine) -> None:
    cfg = alembic_config()
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, "head")
        except CommandError as exc:
            # Typically: the database was migrated by a newer podswitch whose revisions we do not know.
            raise SchemaError(
                f"cannot migrate the database to this podswitch's schema ({head_revision()}): {exc}"
            ) from exc
