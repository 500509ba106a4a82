"""Alembic migrations of a SQL store, run programmatically (``switchyard db upgrade``).

The scripts live in ``migrations/`` inside the package; ``env.py`` takes the
connection opened here (the store's own async engine, so the same URL and
options — e.g. ``?schema=`` — apply), and the version table is ``sy_alembic_version``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from switchyard.storage.factory import open_store
from switchyard.storage.sql import SqlStore

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "sy_alembic_version"


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _revision(connection: sa.Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def head() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _sql_store(url: str, field: str) -> SqlStore:
    store = open_store(url, field=field)
    if not isinstance(store, SqlStore):
        scheme = store.url.split(":")[0]
        raise ValueError(f"{field}: migrations are for sqlite:/// and postgresql:// stores, not {scheme}://")
    return store


async def upgrade(url: str, revision: str = "head", *, field: str = "--url") -> str | None:
    """Migrate the database of ``url`` to ``revision``; returns the revision it is at afterwards."""
    store = _sql_store(url, field)
    config = alembic_config()

    def run(connection: sa.Connection) -> str | None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return _revision(connection)

    try:
        async with store.engine.begin() as conn:
            if store.schema is not None:
                await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{store.schema}"'))
            at: str | None = await conn.run_sync(run)
    finally:
        await store.aclose()
    return at


async def current(url: str, *, field: str = "--url") -> str | None:
    """The revision the database of ``url`` is at (None: never migrated)."""
    store = _sql_store(url, field)

    try:
        async with store.engine.connect() as conn:
            at: str | None = await conn.run_sync(_revision)
    finally:
        await store.aclose()
    return at


class NotMigrated(RuntimeError):
    """A PostgreSQL database behind this package's migrations (the message names the command)."""


async def ensure_migrated(store: SqlStore) -> None:
    """Make ``store``'s database ready at start: a SQLite file is migrated (what ``serve`` does
    itself); a PostgreSQL database must have been (``switchyard db upgrade``): ``NotMigrated`` if not."""
    url = store.spec.url
    chatty = logging.getLogger("alembic")  # its info lines on every start say nothing to an operator
    level = chatty.level
    chatty.setLevel(max(level, logging.WARNING))
    try:
        if not store.postgres:
            await upgrade(url, field="storage.url")
            return
        at, newest = await current(url, field="storage.url"), head()
    finally:
        chatty.setLevel(level)
    if at != newest:
        raise NotMigrated(f"storage.url: the database is at migration {at or 'none'}, this gateway needs {newest}: "
                          "run `switchyard db upgrade --config <your config>` first")
