"""Appends whose ids commit in id order, so a reader following ``id > cursor`` never skips one.

An autoincrement id is taken when a row is inserted, not when its transaction commits: with
two writers, id 8 may commit after id 9 has been read, and a cursor past 9 would never see 8.
Appending under one lock per log makes the order of ids the order of commits. PostgreSQL: a
transaction-level advisory lock on the log's name (released at commit); SQLite has one writer
at a time already (the database lock), so nothing is taken there.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


def lock_id(log: str) -> int:
    """The advisory lock number of ``log`` (a signed 64-bit integer)."""
    return int.from_bytes(hashlib.blake2b(f"sy-log:{log}".encode(), digest_size=8).digest(), "big", signed=True)


async def hold_append_lock(conn: AsyncConnection, log: str) -> None:
    """Take ``log``'s append lock for the rest of ``conn``'s transaction (PostgreSQL; a no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id(log))))
