"""Alembic environment: online migrations on the connection handed in by autoscaler.migrations."""

from __future__ import annotations

from alembic import context

from autoscaler.migrations import SCHEMA, VERSION_TABLE

# autoscaler.migrations.upgrade supplies a connection that already holds the migration lock.
connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run migrations with `autoscaler db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    version_table_schema=SCHEMA,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
