"""Alembic migrations of the journal's tables: a branch of our own in Neutron's database, found by
`neutron-db-manage` through the `neutron.db.alembic_migrations` entry point (`--subproject
networking-podswitch`), with its own version table so it never touches Neutron's."""
