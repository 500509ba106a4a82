"""A subscription whose connection is lost ends its iteration (so the subscriber subscribes again)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from switchyard.storage import open_store
from switchyard.storage.migrate import upgrade


async def _ends(subscription: Any) -> bool:
    try:
        await asyncio.wait_for(anext(subscription), 5)
    except StopAsyncIteration:
        return True
    return False


async def test_postgres_subscription_ends_when_its_backend_is_terminated(postgres_url: str) -> None:
    await upgrade(postgres_url)
    store = open_store(postgres_url, prefix="lost:")
    try:
        async with store.pubsub.subscribe("ch") as sub:
            pid = sub._driver.get_server_pid()  # type: ignore[attr-defined]
            admin = await asyncpg.connect(postgres_url.split("?")[0])
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            assert await _ends(sub)
    finally:
        await store.aclose()


async def test_redis_subscription_ends_when_its_connection_is_killed(redis_url: str, redis_prefix: str) -> None:
    store = open_store(redis_url, prefix=redis_prefix)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        async with store.pubsub.subscribe("ch") as sub:
            connection = sub._pubsub.connection  # type: ignore[attr-defined]
            own = await admin.client_id()
            clients = await admin.client_list(_type="pubsub")
            mine = [c for c in clients if c.get("sub") == "1" and int(c["id"]) != own
                    and c.get("laddr") and int(c["addr"].rsplit(":", 1)[1]) == connection._writer.get_extra_info(
                        "sockname")[1]]
            assert len(mine) == 1
            await admin.client_kill_filter(_id=mine[0]["id"])
            assert await _ends(sub)
    finally:
        await admin.aclose()
        await store.aclose()
