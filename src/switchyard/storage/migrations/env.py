"""Alembic environment, configured by ``switchyard.storage.migrate`` (never from an ini file).

``migrate.py`` opens the connection (async engine, ``run_sync``) and passes it
in ``config.attributes["connection"]``; offline (SQL script) mode is not offered.
"""

from __future__ import annotations

from alembic import context

from switchyard.storage.sql_schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table="sy_alembic_version",  # = migrate.VERSION_TABLE
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
