"""The audit chain in the durable store's SQLite file or PostgreSQL database.

Tables ``sy_audit`` and ``sy_audit_head`` (from ``switchyard db upgrade``).
Appending takes the chain's head under a lock for the whole batch — a row lock
(``SELECT … FOR UPDATE``) in PostgreSQL, the database write lock in SQLite —
so several gateway processes writing to one database extend one chain, one
batch at a time, with ids that never skip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchyard.audit.chain import Entry, Head, Stored
from switchyard.audit.store import Query, chained
from switchyard.storage import sql_schema as schema

CHAIN = "audit"
PAGE = 1000


class SqlAuditStore:
    """The chain in the durable store's SQLite file or PostgreSQL database."""

    def __init__(self, engine: AsyncEngine, postgres: bool) -> None:
        self.engine = engine
        self.postgres = postgres
        self._local = asyncio.Lock()  # one batch at a time from this process

    def _insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self.postgres else sqlite_dialect.insert)(table)

    async def _locked_head(self, conn: AsyncConnection) -> Head:
        """The head, locked until the transaction ends (created when absent). The first
        statement writes, so SQLite takes its write lock before anything is read."""
        table = schema.audit_head
        await conn.execute(self._insert(table).values(
            chain=CHAIN, last_id=0, last_hash=Head().last_hash, anchor_id=0,
            anchor_hash=Head().anchor_hash).on_conflict_do_nothing(index_elements=["chain"]))
        select = sa.select(table).where(table.c.chain == CHAIN)
        if self.postgres:
            select = select.with_for_update()
        row = (await conn.execute(select)).one()
        return Head(row.last_id, row.last_hash, row.anchor_id, row.anchor_hash)

    async def _write_head(self, conn: AsyncConnection, head: Head) -> None:
        table = schema.audit_head
        await conn.execute(table.update().where(table.c.chain == CHAIN).values(
            last_id=head.last_id, last_hash=head.last_hash, anchor_id=head.anchor_id, anchor_hash=head.anchor_hash))

    async def append(self, entries: Sequence[Entry]) -> list[int]:
        if not entries:
            return []
        async with self._local, self.engine.begin() as conn:
            rows, head = chained(await self._locked_head(conn), entries)
            await conn.execute(schema.audit.insert(), [
                {"id": r.id, "at": r.at, "kind": r.kind, "actor": r.actor, "action": r.action, "target": r.target,
                 "data": r.data, "prev_hash": r.prev_hash, "hash": r.hash} for r in rows])
            await self._write_head(conn, head)
        return [r.id for r in rows]

    async def head(self) -> Head:
        table = schema.audit_head
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(table).where(table.c.chain == CHAIN))).one_or_none()
        return Head() if row is None else Head(row.last_id, row.last_hash, row.anchor_id, row.anchor_hash)

    async def scan(self) -> AsyncIterator[Stored]:
        after = -1
        while True:
            page = await self._select(sa.select(schema.audit).where(schema.audit.c.id > after), PAGE)
            for row in page:
                yield row
            if len(page) < PAGE:
                return
            after = page[-1].id

    async def _select(self, select: Any, limit: int) -> list[Stored]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select.order_by(schema.audit.c.id).limit(limit))
            return [Stored(r.id, r.at, r.kind, r.actor, r.action, r.target, _bytes(r.data), r.prev_hash, r.hash)
                    for r in result]

    async def query(self, query: Query) -> list[Stored]:
        c = schema.audit.c
        where = [c.id > query.after_id]
        for column, value in ((c.kind, query.kind), (c.actor, query.actor), (c.action, query.action),
                              (c.target, query.target)):
            if value is not None:
                where.append(column == value)
        if query.since is not None:
            where.append(c.at >= query.since)
        if query.until is not None:
            where.append(c.at < query.until)
        return await self._select(sa.select(schema.audit).where(*where), query.limit)

    async def prune(self, before: float) -> int:
        c = schema.audit.c
        async with self._local, self.engine.begin() as conn:
            head = await self._locked_head(conn)
            # The kept entries stay contiguous: cut at the last of the oldest run made before ``before``.
            first_kept = (await conn.execute(sa.select(sa.func.min(c.id)).where(c.at >= before))).scalar()
            bound = head.last_id if first_kept is None else first_kept - 1
            last = (await conn.execute(sa.select(c.id, c.hash).where(c.id <= bound).order_by(c.id.desc())
                                       .limit(1))).one_or_none()
            if last is None:
                return 0
            removed = (await conn.execute(schema.audit.delete().where(c.id <= last.id))).rowcount
            await self._write_head(conn, Head(head.last_id, head.last_hash, last.id, last.hash))
        return int(removed or 0)

    async def aclose(self) -> None:
        return None  # the engine belongs to the durable store


def _bytes(data: Any) -> bytes:
    """The stored content as bytes (an edit can leave SQLite holding text instead: still checked)."""
    return data.encode() if isinstance(data, str) else bytes(data)
