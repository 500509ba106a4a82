"""``switchyard db upgrade`` on a SQLite file and on the real PostgreSQL: run the CLI, inspect the tables."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

from switchyard.cli.main import main
from switchyard.storage.migrate import head
from switchyard.storage.sql_schema import TABLES


def switchyard(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (``main(argv)``, as the console script runs it), output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["switchyard", *args], code, out.getvalue(), err.getvalue())


def test_db_upgrade_creates_the_tables_in_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    before = switchyard("db", "current", "--url", url)
    assert before.returncode == 0 and before.stdout.startswith("none")
    # Once as a real process: the installed console script.
    done = subprocess.run([str(Path(sys.executable).with_name("switchyard")), "db", "upgrade", "--url", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"revision {head()}" in done.stdout
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in db.execute("PRAGMA table_info(sy_jobs)")}
        version = db.execute("SELECT version_num FROM sy_alembic_version").fetchone()[0]
    assert set(TABLES) <= tables
    assert {"id", "queue", "payload", "attempts", "visible_at", "lease"} <= columns
    assert version == head()
    again = switchyard("db", "upgrade", "--url", url)  # idempotent
    assert again.returncode == 0 and switchyard("db", "current", "--url", url).stdout.startswith(head() or "")


def test_db_upgrade_on_postgresql(postgres_url: str) -> None:
    done = switchyard("db", "upgrade", "--url", postgres_url)
    assert done.returncode == 0, done.stderr
    schema = parse_qs(urlsplit(postgres_url).query)["schema"][0]
    server = postgres_url.split("?")[0]

    async def inspect() -> tuple[set[str], str]:
        connection = await asyncpg.connect(server)
        try:
            rows = await connection.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                                          schema)
            version = await connection.fetchval(f'SELECT version_num FROM "{schema}".sy_alembic_version')
        finally:
            await connection.close()
        return {r["table_name"] for r in rows}, version

    tables, version = asyncio.run(inspect())
    assert set(TABLES) | {"sy_alembic_version"} <= tables
    assert version == head()
    assert switchyard("db", "current", "--url", postgres_url).stdout.startswith(head() or "")


def test_db_commands_refuse_bad_urls_without_echoing_them() -> None:
    bad = switchyard("db", "upgrade", "--url", "mysql://root:hunter2@db/x")
    assert bad.returncode == 2 and "unknown scheme 'mysql'" in bad.stderr and "hunter2" not in bad.stderr
    memory = switchyard("db", "upgrade", "--url", "memory://")
    assert memory.returncode == 2 and "sqlite:/// and postgresql://" in memory.stderr
    down = switchyard("db", "upgrade", "--url", "postgresql://app:hunter2@127.0.0.1:1/x")
    assert down.returncode == 1 and "cannot reach the database" in down.stderr and "hunter2" not in down.stderr
