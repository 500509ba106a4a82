"""Entries in Redis, shared by every replica: TTL per entry, LRU by bytes overall.

Keys (under ``redis.prefix``, then ``cache:``)::

    e:<partition digest>:<key digest>   an entry (``entry.encode``), with its TTL (PX)
    lru                          sorted set: entry key -> last use (``tick``, a counter: exact order)
    sizes                        hash: entry key -> its bytes
    bytes                        the bytes counted

A put is one script: it sets the entry, counts its bytes, and while the count
is over ``max_bytes`` removes the least recently used; entries that expired by
their TTL leave the count when they reach the front of ``lru``. A get is one
script too: the entry, and its use noted in ``lru``. So memory stays within
``max_bytes`` (plus the bookkeeping of the entries counted), across replicas.

The partition is hashed into the key (SHA-256, 96 bits), never written out.
Redis that cannot be reached raises ``CacheUnavailable``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from switchyard.cache.entry import Entry, decode, encode
from switchyard.cache.key import digest
from switchyard.cache.protocols import CacheUnavailable

# KEYS: entry, lru, tick. Returns the entry or nil.
GET = """
local value = redis.call('GET', KEYS[1])
if value then redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), KEYS[1]) end
return value
"""

# KEYS: entry, lru, sizes, bytes, tick. ARGV: value, ttl ms, max bytes.
PUT = """
local now = redis.call('INCR', KEYS[5])
local size = string.len(ARGV[1])
local old = tonumber(redis.call('HGET', KEYS[3], KEYS[1]) or '0')
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], KEYS[1], size)
redis.call('ZADD', KEYS[2], now, KEYS[1])
local total = redis.call('INCRBY', KEYS[4], size - old)
local limit = tonumber(ARGV[3])
for _ = 1, 1000 do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  local expired = oldest ~= KEYS[1] and redis.call('EXISTS', oldest) == 0
  if total <= limit and not expired then break end
  redis.call('ZREM', KEYS[2], oldest)
  redis.call('DEL', oldest)
  local dropped = tonumber(redis.call('HGET', KEYS[3], oldest) or '0')
  redis.call('HDEL', KEYS[3], oldest)
  total = redis.call('DECRBY', KEYS[4], dropped)
end
return total
"""


def partition_digest(partition: str) -> str:
    return hashlib.sha256(partition.encode("utf-8", "surrogateescape")).hexdigest()[:24]


class RedisStore:
    """``ResponseStore`` in Redis (see the module docstring). ``client``: a ``redis.asyncio``
    client (the shared store's); ``prefix``: the store's key prefix."""

    def __init__(self, client: Any, prefix: str, max_bytes: int, max_entry_bytes: int) -> None:
        self.client = client
        self.prefix = prefix + "cache:"
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self._get = client.register_script(GET)
        self._put = client.register_script(PUT)
        self.lru, self.sizes, self.bytes = self.prefix + "lru", self.prefix + "sizes", self.prefix + "bytes"
        self.tick = self.prefix + "tick"

    @staticmethod
    def name(partition: str, key: bytes) -> str:
        """The name of a request's entry (and claim) in Redis: digests of its partition and key."""
        return f"{partition_digest(partition)}:{digest(key)}"

    def entry_key(self, name: str) -> str:
        return f"{self.prefix}e:{name}"

    async def get(self, partition: str, key: bytes) -> Entry | None:
        try:
            value = await self._get(keys=[self.entry_key(self.name(partition, key)), self.lru, self.tick])
        except Exception as exc:  # redis' errors, OSError, timeouts: the cache is out of reach
            raise CacheUnavailable(f"Redis: {type(exc).__name__}") from None
        return None if value is None else decode(value)

    async def put(self, partition: str, key: bytes, entry: Entry, ttl: float) -> None:
        data = encode(entry)
        if len(data) > self.max_entry_bytes or len(data) > self.max_bytes:
            return
        await self.put_encoded(self.entry_key(self.name(partition, key)), data, ttl)

    async def put_encoded(self, entry_key: str, data: bytes, ttl: float, client: Any = None) -> None:
        try:
            await self._put(keys=[entry_key, self.lru, self.sizes, self.bytes, self.tick],
                            args=[data, max(1, int(ttl * 1000)), self.max_bytes], client=client)
        except Exception as exc:
            raise CacheUnavailable(f"Redis: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        """The client is the shared store's: it closes it."""
