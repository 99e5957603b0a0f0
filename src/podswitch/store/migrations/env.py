"""Alembic environment. `Store.open` runs it programmatically on its own connection (passed in
`config.attributes["connection"]`, already inside a locked transaction); the `alembic` command line runs it
with a URL from `-x url=...`, `sqlalchemy.url` or `PODSWITCH_DATABASE_URL`."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from podswitch.store.engine import make_engine
from podswitch.store.schema import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode lets later migrations rebuild tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("PODSWITCH_DATABASE_URL")
    )
    if not url:
        raise SystemExit("no database: pass -x url=..., set sqlalchemy.url or PODSWITCH_DATABASE_URL")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
