"""The response cache: exact answers kept per partition, identical requests in flight
coalesced onto one upstream call, streams fanned out to every client that shares them.

One request stage (``stage.py``) over small parts, each a concept of its own::

    key.py          the canonical request and its hash
    partition.py    whose entries are whose, from the caller's key
    directives.py   the client's Cache-Control
    entry.py        what is kept of an answer, and how it is served again
    store_memory.py entries in this process (LRU by bytes, TTL)
    store_redis.py  entries in Redis, shared by replicas (LRU by bytes, TTL)
    flight.py       an answer in the making, shared: the stream buffer and its readers
    coalesce.py     the flights of this process, by request and by request id
    relay.py        coalescing across replicas through Redis
    protocols.py    the store's and the semantic cache's seams
    semantic/       the semantic cache (a package of its own; numpy and the model load only when used)

``build_cache(config, shared)`` makes the stage when an alias has ``cache:``
(``gateway/services.py`` imports this package only then).
"""

from __future__ import annotations

from typing import Any

from switchyard.cache.protocols import SemanticCache
from switchyard.cache.stage import CacheStage
from switchyard.core.config import Config


def build_cache(config: Config, shared: Any, semantic: SemanticCache | None = None) -> CacheStage:
    """The cache stage of ``config``; ``shared`` is the store replicas share (its Redis client
    serves ``cache.backend: redis``); ``semantic``, a semantic cache asked after exact misses."""
    settings = config.cache
    if settings.backend == "redis" and config.redis is not None:
        from switchyard.cache.relay import Relay
        from switchyard.cache.store_redis import RedisStore

        store = RedisStore(shared.client, shared.prefix, settings.max_bytes, settings.max_entry_bytes)
        block = min(0.25, config.redis.operation_timeout / 2)
        return CacheStage(settings, store, Relay(store, settings.lock_ttl, block), semantic)
    from switchyard.cache.store_memory import MemoryStore

    return CacheStage(settings, MemoryStore(settings.max_bytes, settings.max_entry_bytes), semantic=semantic)


__all__ = ["CacheStage", "build_cache"]
