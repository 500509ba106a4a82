"""``sy_responses`` in the durable store's SQLite file or PostgreSQL database (see ``store.py``)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from switchyard.responses.store import StoredResponse
from switchyard.storage import sql_schema as schema

#: Expired rows are deleted every this many writes (one indexed DELETE), not on every one.
PRUNE_EVERY = 100


class SqlResponseStore:
    """One row per stored response; a read ignores expired rows, writes prune them."""

    def __init__(self, engine: AsyncEngine, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self._writes = 0

    async def put(self, stored: StoredResponse) -> None:
        t = schema.responses
        at = time.time()
        self._writes += 1
        async with self.engine.begin() as conn:
            await conn.execute(t.insert().values(id=stored.id, scope=stored.scope, created_at=stored.created_at,
                                                 expires_at=at + self.ttl, data=stored.to_bytes()))
            if self._writes % PRUNE_EVERY == 1:
                await conn.execute(t.delete().where(t.c.expires_at < at))

    async def get(self, response_id: str, scope: str) -> StoredResponse | None:
        t = schema.responses
        query = sa.select(t.c.created_at, t.c.data).where(t.c.id == response_id, t.c.scope == scope,
                                                         t.c.expires_at >= time.time())
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return StoredResponse.from_bytes(response_id, scope, row.created_at, row.data)

    async def delete(self, response_id: str, scope: str) -> bool:
        t = schema.responses
        async with self.engine.begin() as conn:
            result = await conn.execute(t.delete().where(t.c.id == response_id, t.c.scope == scope,
                                                         t.c.expires_at >= time.time()))
        return bool(result.rowcount)
