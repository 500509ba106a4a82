"""The two seams of the cache stage: where exact entries are kept, and a semantic lookup.

``ResponseStore`` keeps entries by ``(partition, key)`` — the key is the canonical
request's bytes (``key.request_key``) — with a TTL, bounded by the
bytes it holds (``store_memory.py``, ``store_redis.py``). A store that cannot be
reached raises ``CacheUnavailable``; the stage then answers without the cache
(a miss that is not kept), never with an error.

``SemanticCache`` is the place of a cache that recognises similar prompts: after
an exact miss the stage asks ``lookup(partition, alias, call)``; a hit
(``SimilarHit``: the entry and its similarity) is served like an exact one, with
``x-switchyard-cache-similarity``; an answer the stage keeps is also handed to
``store(partition, alias, call, entry, ttl)``. The call, not only its request:
what the exact key holds beyond the body (the surface, streamed or not, routing
tags) must be equal for a similar prompt too. The partition is the one the
exact cache uses, decided by the server, so the semantic index is scoped the
same way. None means no semantic cache (``cache/semantic/seam.py`` is the one
Switchyard ships).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from switchyard.cache.entry import Entry
from switchyard.core.call import Call


class CacheUnavailable(ConnectionError):
    """The cache's store cannot be reached now."""


class ResponseStore(Protocol):
    async def get(self, partition: str, key: bytes) -> Entry | None:
        """The entry under ``key`` in ``partition``, if one is kept and has not expired."""
        ...

    async def put(self, partition: str, key: bytes, entry: Entry, ttl: float) -> None:
        """Keep ``entry`` for ``ttl`` seconds (least recently used go first past the bound)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SimilarHit:
    """A semantic cache's answer: the entry of the nearest earlier prompt, and how near."""

    entry: Entry
    similarity: float


class SemanticCache(Protocol):
    async def lookup(self, partition: str, alias: str, call: Call) -> SimilarHit | None: ...

    async def store(self, partition: str, alias: str, call: Call, entry: Entry, ttl: float) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...
