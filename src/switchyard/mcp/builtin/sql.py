"""Read-only SQL against one configured database, bounded in time and rows.

Read-only is the database's doing, not string matching: SQLite is opened with
``mode=ro`` (attaching another file is denied by an authorizer), PostgreSQL runs each
query in a ``READ ONLY`` transaction that has already taken its snapshot (so it cannot be
switched to read-write) under ``statement_timeout``. One statement per query (both
drivers refuse more). At most ``max_rows`` rows come back (``truncated`` says more
were there); the rest are never fetched.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import decimal
import sqlite3
import time
import uuid
from typing import Any
from urllib.parse import quote

from switchyard.core.config.mcp import SqlService


class QueryRefused(ValueError):
    """The query is refused or failed; the message says why (never the database's URL)."""


class SqlRunner:
    def __init__(self, config: SqlService) -> None:
        self.config = config
        self.url = config.url.get_secret_value()

    async def query(self, sql: str) -> dict[str, Any]:
        if not isinstance(sql, str) or not sql.strip():
            raise QueryRefused("sql: must be a non-empty string")
        if len(sql) > self.config.max_length:
            raise QueryRefused(f"sql: {len(sql)} characters; the limit is {self.config.max_length}")
        if self.url.startswith("sqlite:///"):
            return await asyncio.to_thread(self._sqlite, sql)
        return await self._postgres(sql)

    # -- SQLite -----------------------------------------------------------------------------------
    def _sqlite(self, sql: str) -> dict[str, Any]:
        path = self.url[len("sqlite:///"):]
        deadline = time.monotonic() + self.config.timeout
        try:
            conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=self.config.timeout,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise QueryRefused(f"cannot open the database: {exc}") from None
        try:
            conn.set_authorizer(_no_attach)
            conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
            try:
                cursor = conn.execute(sql)
                columns = [d[0] for d in cursor.description or ()]
                rows = cursor.fetchmany(self.config.max_rows + 1)
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise QueryRefused(f"the query ran past {self.config.timeout:g} s "
                                       "(mcp.builtins.sql.timeout)") from None
                raise QueryRefused(f"the database refused the query: {exc}") from None
            except (sqlite3.Error, sqlite3.Warning) as exc:
                raise QueryRefused(f"the database refused the query: {exc}") from None
        finally:
            conn.close()
        return self._result(columns, [list(r) for r in rows])

    # -- PostgreSQL -------------------------------------------------------------------------------
    async def _postgres(self, sql: str) -> dict[str, Any]:
        import asyncpg

        timeout = self.config.timeout
        try:
            conn = await asyncpg.connect(self.url, timeout=timeout,
                                         server_settings={"default_transaction_read_only": "on"})
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise QueryRefused(f"cannot connect to the database: {type(exc).__name__}") from None
        try:
            async with conn.transaction(readonly=True):
                await conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
                await conn.fetchval("SELECT 1")  # the snapshot is taken: read-write cannot be set any more
                try:
                    statement = await conn.prepare(sql)
                    columns = [a.name for a in statement.get_attributes()]
                    rows = await (await statement.cursor()).fetch(self.config.max_rows + 1) if columns else []
                    if not columns:  # a statement without rows (SET, DO...): run it for its error, if any
                        await statement.fetch()
                except asyncpg.QueryCanceledError:
                    raise QueryRefused(f"the query ran past {timeout:g} s (mcp.builtins.sql.timeout)") from None
                except asyncpg.PostgresError as exc:
                    raise QueryRefused(f"the database refused the query: {exc}") from None
        except asyncpg.PostgresError as exc:  # e.g. the statement ended the transaction
            raise QueryRefused(f"the database refused the query: {exc}") from None
        finally:
            await conn.close()
        return self._result(columns, [list(r.values()) for r in rows])

    def _result(self, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
        truncated = len(rows) > self.config.max_rows
        rows = rows[: self.config.max_rows]
        return {"columns": columns, "rows": [[_json(v) for v in row] for row in rows],
                "row_count": len(rows), "truncated": truncated}


def _no_attach(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_DENY if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) else sqlite3.SQLITE_OK


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.date | datetime.time | datetime.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return str(value)
