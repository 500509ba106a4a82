"""Read-only SQL: rows come back bounded; writes are refused by the connection itself (SQLite
``mode=ro``, PostgreSQL read-only transactions), not by looking at the text."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from switchyard.core.config.mcp import SqlService
from switchyard.mcp.builtin.sql import QueryRefused, SqlRunner
from tests.conftest import _in_thread


@pytest.fixture
def sqlite_runner(tmp_path) -> SqlRunner:
    path = tmp_path / "data.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)")
        db.executemany("INSERT INTO t (name, blob) VALUES (?, ?)", [(f"n{i}", b"\x00\x01") for i in range(30)])
    return SqlRunner(SqlService(url=f"sqlite:///{path}", max_rows=10, timeout=0.5))


async def test_sqlite_answers_bounded_rows(sqlite_runner):
    answer = await sqlite_runner.query("SELECT id, name, blob FROM t ORDER BY id")
    assert answer["columns"] == ["id", "name", "blob"]
    assert answer["row_count"] == 10 and answer["truncated"] is True
    assert answer["rows"][0] == [1, "n0", {"base64": "AAE="}]
    small = await sqlite_runner.query("SELECT count(*) AS n FROM t")
    assert small == {"columns": ["n"], "rows": [[30]], "row_count": 1, "truncated": False}


@pytest.mark.parametrize(("sql", "reason"), [
    ("INSERT INTO t (name) VALUES ('x')", "attempt to write a readonly database"),
    ("DELETE FROM t", "attempt to write a readonly database"),
    ("DROP TABLE t", "attempt to write a readonly database"),
    ("CREATE TABLE u (a)", "attempt to write a readonly database"),
    ("PRAGMA journal_mode = DELETE; SELECT 1", "You can only execute one statement at a time"),
    ("SELECT 1; DELETE FROM t", "You can only execute one statement at a time"),
    ("ATTACH DATABASE '/tmp/other.db' AS o", "not authorized"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
     "ran past 0.5 s (mcp.builtins.sql.timeout)"),
    ("SELEC 1", "syntax error"),
    ("", "sql: must be a non-empty string"),
    ("SELECT 1 " + " " * 20_000, "the limit is 20000"),
])
async def test_sqlite_refuses(sqlite_runner, sql, reason):
    with pytest.raises(QueryRefused) as refused:
        await sqlite_runner.query(sql)
    assert reason in str(refused.value)
    still = await sqlite_runner.query("SELECT count(*) FROM t")
    assert still["rows"] == [[30]]


@pytest.fixture
def pg_runner(postgres_server) -> Iterator[tuple[SqlRunner, str]]:
    schema = f"sytest_sql_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _in_thread(lambda: asyncio.run(run(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".t (id int, name text); '
                                       f'INSERT INTO "{schema}".t SELECT g, \'n\' || g FROM generate_series(1, 30) g')))
    yield SqlRunner(SqlService(url=postgres_server, max_rows=10, timeout=0.5)), schema
    _in_thread(lambda: asyncio.run(run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')))


async def test_postgres_answers_bounded_rows(pg_runner):
    runner, schema = pg_runner
    answer = await runner.query(f'SELECT id, name FROM "{schema}".t ORDER BY id')
    assert answer["columns"] == ["id", "name"] and answer["rows"][0] == [1, "n1"]
    assert answer["row_count"] == 10 and answer["truncated"] is True


@pytest.mark.parametrize(("sql", "reason"), [
    ('INSERT INTO "S".t VALUES (99, \'x\')', "cannot execute INSERT in a read-only transaction"),
    ('DELETE FROM "S".t', "cannot execute DELETE in a read-only transaction"),
    ('CREATE TABLE "S".u (a int)', "cannot execute CREATE TABLE in a read-only transaction"),
    ("SET TRANSACTION READ WRITE", "transaction read-write mode must be set before any query"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "read-write mode must be set before any query"),
    ('WITH gone AS (DELETE FROM "S".t RETURNING id) SELECT count(*) FROM gone', "read-only transaction"),
    ('SELECT 1; DELETE FROM "S".t', "cannot insert multiple commands into a prepared statement"),
    ("SELECT pg_sleep(5)", "ran past 0.5 s (mcp.builtins.sql.timeout)"),
    ("SELEC 1", "syntax error"),
])
async def test_postgres_refuses(pg_runner, sql, reason):
    runner, schema = pg_runner
    with pytest.raises(QueryRefused) as refused:
        await runner.query(sql.replace('"S"', f'"{schema}"'))
    assert reason in str(refused.value)
    still = await runner.query(f'SELECT count(*) AS n FROM "{schema}".t')
    assert still["rows"] == [[30]]
    assert "postgresql://" not in str(refused.value)
