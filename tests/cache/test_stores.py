"""The entry stores, memory and Redis, held to one contract: get what was put, TTL, LRU by bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from switchyard.cache.entry import Entry, Piece, decode, encode
from switchyard.cache.store_memory import MemoryStore
from switchyard.cache.store_redis import RedisStore


def _entry(size: int, tag: str = "") -> Entry:
    return Entry(1.0, False, body=(tag.encode() + b"x" * size)[:size], usage=(3, 4, None, None, None), cost=0.5)


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Callable[..., Any]:
    if request.param == "memory":
        return lambda max_bytes=10_000, max_entry=5_000: MemoryStore(max_bytes, max_entry)
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")

    def make(max_bytes: int = 10_000, max_entry: int = 5_000) -> RedisStore:
        return RedisStore(aioredis.Redis.from_url(url), prefix, max_bytes, max_entry)
    return make


def test_an_entry_round_trips_through_its_bytes():
    entry = Entry(5.0, True, pieces=(Piece(b'{"a":1}', None, None, True), Piece(b"{}", b"event: x\n\n", (1, 2, 0, None, 0))),
                  usage=(1, 2, 0, None, 0), cost=0.25)
    assert decode(encode(entry)) == entry
    assert decode(b"not msgpack at all") is None


def test_put_then_get_within_its_partition_only(make_store):
    async def run() -> None:
        store = make_store()
        await store.put("tenant:a", b"k1", _entry(100, "one"), ttl=60)
        got = await store.get("tenant:a", b"k1")
        assert got is not None and got.body.startswith(b"one") and got.cost == 0.5
        assert await store.get("tenant:b", b"k1") is None
        assert await store.get("tenant:a", b"k2") is None
        await store.aclose()
    asyncio.run(run())


def test_entries_expire(make_store):
    async def run() -> None:
        store = make_store()
        await store.put("p", b"short", _entry(100), ttl=0.05)
        await store.put("p", b"long", _entry(100), ttl=60)
        await asyncio.sleep(0.15)  # a TTL is time passing: nothing to await instead
        assert await store.get("p", b"short") is None
        assert await store.get("p", b"long") is not None
        await store.aclose()
    asyncio.run(run())


def test_least_recently_used_go_first_past_the_byte_bound(make_store):
    async def run() -> None:
        store = make_store(max_bytes=4_000, max_entry=3_000)
        for name in ("a", "b", "c"):
            await store.put("p", name.encode(), _entry(1_000, name), ttl=60)
        assert await store.get("p", b"a") is not None  # a is used: b is now the oldest
        await store.put("p", b"d", _entry(1_000, "d"), ttl=60)
        await store.put("p", b"e", _entry(1_000, "e"), ttl=60)
        kept = {name for name in "abcde" if await store.get("p", name.encode()) is not None}
        assert "b" not in kept and {"a", "e"} <= kept
        assert len(kept) <= 3
        await store.put("p", b"huge", _entry(3_500), ttl=60)  # over max_entry_bytes: not kept
        assert await store.get("p", b"huge") is None
        await store.aclose()
    asyncio.run(run())


def test_redis_counts_bytes_across_instances(redis_url, redis_prefix):
    async def run() -> None:
        first = RedisStore(aioredis.Redis.from_url(redis_url), redis_prefix, 5_000, 4_000)
        second = RedisStore(aioredis.Redis.from_url(redis_url), redis_prefix, 5_000, 4_000)
        for index in range(20):
            await (first if index % 2 else second).put("p", f"k{index}".encode(), _entry(900), ttl=60)
        total = int(await first.client.get(first.bytes))
        assert 0 < total <= 5_000
        assert await second.get("p", b"k19") is not None and await first.get("p", b"k0") is None
        await first.client.aclose()
        await second.client.aclose()
    asyncio.run(run())
