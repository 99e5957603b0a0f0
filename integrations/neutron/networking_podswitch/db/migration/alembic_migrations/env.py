"""Alembic environment of networking-podswitch, run by neutron-db-manage (it hands us Neutron's config)."""

from alembic import context
from neutron.db.migration.alembic_migrations import external
from neutron.db.migration.connection import DBConnection
from neutron_lib.db import model_base

from networking_podswitch.db import models  # noqa: F401  (the tables, for autogenerate)

VERSION_TABLE = "podswitch_alembic_version"
config = context.config
neutron_config = config.neutron_config
target_metadata = model_base.BASEV2.metadata


def include_object(object_, name, type_, reflected, compare_to):
    # Only our own tables: Neutron's (and other subprojects') belong to their branches.
    if type_ == "table":
        return name.startswith("podswitch_") and name not in external.TABLES
    return True


def run_migrations_offline():
    kwargs = {"include_object": include_object, "version_table": VERSION_TABLE}
    if neutron_config.database.connection:
        kwargs["url"] = neutron_config.database.connection
    else:
        kwargs["dialect_name"] = neutron_config.database.engine
    context.configure(**kwargs)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    with DBConnection(neutron_config.database.connection, connection) as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            include_object=include_object,
            version_table=VERSION_TABLE,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
