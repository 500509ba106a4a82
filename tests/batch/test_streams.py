"""The Redis Streams work queue on a real Redis: a dead consumer's entries are taken over once idle past
the lease, a live one keeps its entries by renewing them, and acknowledged entries are trimmed away."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from switchyard.batch.streams import GROUP, StreamChunks, StreamQueue


def test_leases_take_over_dead_work_keep_live_work_and_trim_what_is_done(redis_url: str, redis_prefix: str) -> None:
    async def run() -> dict[str, Any]:
        clients = [aioredis.Redis.from_url(redis_url) for _ in range(3)]
        queue = StreamQueue(clients[0], redis_prefix)
        live = StreamChunks(clients[1], redis_prefix, lease=0.4, block=0.05, consumer="live")
        other = StreamChunks(clients[2], redis_prefix, lease=0.4, block=0.05, consumer="other")
        try:
            await live.take(1)  # makes the group
            await queue.enqueue("batch_a", [(1, 10), (11, 20), (21, 30)])
            held = await live.take(2)
            assert [(c.batch_id, c.first, c.last) for c in held] == [("batch_a", 1, 10), ("batch_a", 11, 20)]
            other.claim_every = 0.0  # look for idle work at every take
            third = await other.take(5)
            assert [(c.first, c.last) for c in third] == [(21, 30)]  # new work, not live's
            for _ in range(4):  # live keeps renewing the first; it stops renewing the second ("dies" with it)
                await asyncio.sleep(0.15)  # the lease is time: nothing to wait on but the clock
                await live.keep(held[:1])
                await other.keep(third)
            taken = await other.take(5)
            assert [(c.first, c.last) for c in taken] == [(11, 20)] and other.reclaimed == 1
            for chunk in (held[0], *taken):
                await (live if chunk is held[0] else other).done(chunk)
            before = await queue.length()
            await other.trim()
            pending = await clients[0].xpending(queue.key, GROUP)
            return {"before": before, "after": await queue.length(), "pending": pending["pending"]}
        finally:
            await clients[0].delete(queue.key, queue.epoch_key)
            for client in clients:
                await client.aclose()

    seen = asyncio.run(run())
    assert seen["before"] == 3 and seen["pending"] == 1  # (21, 30) is still other's, not acknowledged
    assert seen["after"] == 1  # only the entry still pending is left
