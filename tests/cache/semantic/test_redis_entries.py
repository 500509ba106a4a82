"""Entries in the real Redis: what one replica stores, another finds; purges and the bound hold for all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from switchyard.cache.semantic import SemanticCache, SemanticHit, SemanticSettings, entries_for
from switchyard.cache.semantic.minilm import MiniLM, MiniLMEmbedder
from switchyard.cache.semantic.redis_entries import RedisEntries
from switchyard.storage import open_store
from tests.cache.semantic.conftest import Clock

ACME, GLOBEX = "tenant:acme", "tenant:globex"
Replica = Callable[..., SemanticCache]


def ask(text: str) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": text}], "temperature": 0}


@pytest.fixture
async def replica(redis_url: str, redis_prefix: str, minilm: MiniLM, clock: Clock) -> AsyncIterator[Replica]:
    """Builds semantic caches on one Redis, as separate gateway processes would (each its own store)."""
    stores, caches = [], []

    def start(**settings: Any) -> SemanticCache:
        store = open_store(redis_url, prefix=redis_prefix)
        options = {"threshold": 0.9, "ttl": 60.0, **settings}
        entries = entries_for(store, max_entries=options.get("max_entries", 10_000))
        cache = SemanticCache(MiniLMEmbedder(model=minilm), entries, settings=SemanticSettings(**options),
                              clock=clock)
        stores.append(store)
        caches.append(cache)
        return cache

    yield start
    for cache in caches:
        await cache.aclose()
    client = stores[0].client  # type: ignore[attr-defined]
    keys = [k async for k in client.scan_iter(match=redis_prefix + "*")]
    if keys:
        await client.delete(*keys)
    for store in stores:
        await store.aclose()


async def test_an_entry_stored_by_one_replica_is_found_by_another(replica: Replica) -> None:
    first, second = replica(), replica()
    assert isinstance(first.entries, RedisEntries)
    await first.start()
    await second.start()
    await asyncio.wait_for(second.caught_up.wait(), 5)
    entry_id = await first.store(ACME, "chat", ask("How tall is Mount Everest?"), b"8,849 metres")
    await asyncio.wait_for(second.fed(lambda: entry_id in second.index), 5)
    hit = await second.lookup(ACME, "chat", ask("What is the height of Mount Everest?"))
    assert isinstance(hit, SemanticHit) and hit.answer == b"8,849 metres" and hit.similarity >= 0.9
    assert not (await second.lookup(GLOBEX, "chat", ask("How tall is Mount Everest?"))).hit


async def test_a_replica_started_later_rebuilds_its_index_from_the_feed(replica: Replica) -> None:
    first = replica()
    for text in ("Who wrote Romeo and Juliet?", "What time zone is Tokyo in?"):
        await first.store(ACME, "chat", ask(text), text.encode())
    late = replica()
    await late.start()
    await asyncio.wait_for(late.caught_up.wait(), 5)
    assert late.inspect()["entries"] == 2 and late.inspect()["shared"]
    hit = await late.lookup(ACME, "chat", ask("Which time zone does Tokyo use?"))
    assert isinstance(hit, SemanticHit) and hit.answer == b"What time zone is Tokyo in?"


async def test_a_purge_reaches_every_replica_and_the_store(replica: Replica) -> None:
    first, second = replica(), replica()
    await second.start()
    await asyncio.wait_for(second.caught_up.wait(), 5)
    kept = await first.store(GLOBEX, "chat", ask("Who wrote Romeo and Juliet?"), b"globex")
    for alias in ("chat", "code"):
        await first.store(ACME, alias, ask("Who wrote Romeo and Juliet?"), alias.encode())
    await asyncio.wait_for(second.fed(lambda: len(second.index) == 3), 5)
    assert await second.purge(ACME) == 2
    await asyncio.wait_for(first.start(), 5)
    await asyncio.wait_for(first.caught_up.wait(), 5)  # replays adds, then the purge
    assert [g["partition"] for g in first.inspect()["groups"]] == [GLOBEX]
    assert not (await first.lookup(ACME, "chat", ask("Who wrote Romeo and Juliet?"))).hit
    assert await first.entries.get(kept or "") is not None


async def test_redis_keeps_at_most_max_entries(replica: Replica, redis_prefix: str) -> None:
    cache = replica(max_entries=2)
    texts = ["Who wrote Romeo and Juliet?", "What time zone is Tokyo in?", "How tall is Mount Everest?"]
    ids = [await cache.store(ACME, "chat", ask(t), t.encode()) for t in texts]
    entries = cache.entries
    assert isinstance(entries, RedisEntries)
    assert await entries.client.zcard(redis_prefix + "sem:ids") == 2
    assert await entries.get(ids[0] or "") is None  # the soonest to expire went
    assert await entries.get(ids[2] or "") is not None


async def test_an_entry_gone_from_redis_is_a_miss_and_leaves_the_index(replica: Replica, redis_prefix: str) -> None:
    cache = replica()
    entry_id = await cache.store(ACME, "chat", ask("What does HTTP stand for?"), b"HyperText Transfer Protocol")
    entries = cache.entries
    assert isinstance(entries, RedisEntries)
    await entries.client.delete(entries.entry_prefix + (entry_id or ""))  # as its TTL would
    assert not (await cache.lookup(ACME, "chat", ask("What does HTTP stand for?"))).hit
    assert entry_id not in cache.index
