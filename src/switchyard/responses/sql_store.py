"""``sy_responses`` in the durable store's SQLite file or PostgreSQL database (see ``store.py``)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import sqlalchemy as sa

from switchyard.core.errors import ServiceUnavailable
from switchyard.responses.store import StoredResponse
from switchyard.storage import sql_schema as schema

#: Expired rows are deleted every this many writes (one indexed DELETE), not on every one.
PRUNE_EVERY = 100


class SqlResponseStore:
    """One row per stored response; a read ignores expired rows, writes prune them.

    On first use a SQLite file is migrated (as ``switchyard serve`` does with auth on), and
    a PostgreSQL database behind this package's migrations answers 503 naming the command.
    """

    def __init__(self, durable: Any, ttl: float) -> None:
        self.durable = durable
        self.engine = durable.engine
        self.ttl = ttl
        self._writes = 0
        self._ready = False
        self._lock = asyncio.Lock()

    async def _check(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            chatty = logging.getLogger("alembic")  # its info lines say nothing to an operator
            level = chatty.level
            chatty.setLevel(max(level, logging.WARNING))
            try:
                from switchyard.storage.migrate import current, head, upgrade

                url = self.durable.spec.url
                if not self.durable.postgres:
                    await upgrade(url, field="storage.url")
                else:
                    at, newest = await current(url, field="storage.url"), head()
                    if at != newest:
                        raise ServiceUnavailable(
                            f"storage.url: the database is at migration {at or 'none'}, stored responses need "
                            f"{newest}: run `switchyard db upgrade --config <your config>`")
            finally:
                chatty.setLevel(level)
            self._ready = True

    async def put(self, stored: StoredResponse) -> None:
        await self._check()
        t = schema.responses
        at = time.time()
        self._writes += 1
        async with self.engine.begin() as conn:
            await conn.execute(t.insert().values(id=stored.id, scope=stored.scope, created_at=stored.created_at,
                                                 expires_at=at + self.ttl, data=stored.to_bytes()))
            if self._writes % PRUNE_EVERY == 1:
                await conn.execute(t.delete().where(t.c.expires_at < at))

    async def get(self, response_id: str, scope: str) -> StoredResponse | None:
        await self._check()
        t = schema.responses
        query = sa.select(t.c.created_at, t.c.data).where(t.c.id == response_id, t.c.scope == scope,
                                                         t.c.expires_at >= time.time())
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return StoredResponse.from_bytes(response_id, scope, row.created_at, row.data)

    async def delete(self, response_id: str, scope: str) -> bool:
        await self._check()
        t = schema.responses
        async with self.engine.begin() as conn:
            result = await conn.execute(t.delete().where(t.c.id == response_id, t.c.scope == scope,
                                                         t.c.expires_at >= time.time()))
        return bool(result.rowcount)
