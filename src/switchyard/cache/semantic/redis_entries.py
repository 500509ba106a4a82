"""Semantic cache entries in Redis, seen by every replica.

Under the store's prefix:

=========================  ===================================================
``sem:e:<id>``             the entry and its answer (msgpack), expiring with it
``sem:ids``                sorted set of ``<partition hash>:<alias hash>:<id>``
                           by expiry (ms, Redis' clock): the size bound and purges
``sem:feed``               stream of events (an entry added, a partition purged),
                           trimmed to about ``max_entries`` + 1,000
=========================  ===================================================

Storing is one script: the answer is written with its TTL, expired ids leave the
set, the soonest-expiring beyond ``max_entries`` are deleted, and the event is
appended to the feed. Every replica reads the feed from its oldest event (which
rebuilds its index at start) and then blocks on it for new ones, so an entry
stored by one replica is found by the others as soon as the event arrives (a
few milliseconds on a LAN). Vectors travel in the feed; answers are read with
one ``GET`` on a hit only.

Why Redis and an index in each process rather than a vector database: this
Redis (7.0) has no vector search and PostgreSQL has no pgvector here; an exact
search over an in-process index costs about a millisecond at 100,000 entries
(``bucket.py``), less than one round trip to a remote index would.

The script computes the entry keys it deletes (it cannot declare them ahead):
fine on one Redis server or a replicated one, not on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from switchyard.cache.semantic.entries import (
    Added,
    CaughtUp,
    Entry,
    Event,
    Purged,
    decode_event,
    decode_stored,
    encode_event,
    encode_stored,
)

log = logging.getLogger("switchyard.cache.semantic")

#: Feed events kept beyond ``max_entries`` (purges share the stream with additions).
FEED_SLACK = 1000
#: Feed events read per round trip.
READ_BATCH = 500
#: How long one read of the feed waits for new events (below the client's socket timeout).
BLOCK_MS = 200

# KEYS: entry, ids, feed. ARGV: member, stored, ttl ms, max entries, event, feed max length, entry key prefix.
_PUT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #popped, 2 do
    redis.call('DEL', ARGV[7] .. string.match(popped[i], '([^:]+)$'))
  end
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'd', ARGV[5])
return over
"""


def _hash(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=8).hexdigest()


class RedisEntries:
    """Entries in Redis (``client``: a ``redis.asyncio`` client; ``prefix``: the store's)."""

    shared = True

    def __init__(self, client: Any, prefix: str, *, max_entries: int) -> None:
        self.client = client
        self.max_entries = max_entries
        self.entry_prefix = prefix + "sem:e:"
        self.ids_key = prefix + "sem:ids"
        self.feed_key = prefix + "sem:feed"
        self._put = client.register_script(_PUT)

    @staticmethod
    def _member(entry: Entry) -> str:
        return f"{_hash(entry.partition)}:{_hash(entry.alias)}:{entry.id}"

    async def put(self, entry: Entry, answer: bytes, ttl: float) -> None:
        await self._put(
            keys=[self.entry_prefix + entry.id, self.ids_key, self.feed_key],
            args=[self._member(entry), encode_stored(entry, answer), max(1, int(ttl * 1000)), self.max_entries,
                  encode_event(Added(entry)), self.max_entries + FEED_SLACK, self.entry_prefix])

    async def get(self, entry_id: str) -> tuple[Entry, bytes] | None:
        data = await self.client.get(self.entry_prefix + entry_id)
        return None if data is None else decode_stored(data)

    def forget(self, entry_ids: Iterable[str]) -> None:
        """Nothing: other replicas may still use them; Redis expires and bounds them itself."""

    async def purge(self, partition: str, alias: str | None) -> int:
        pattern = f"{_hash(partition)}:{'*' if alias is None else _hash(alias) + ':*'}"
        deleted = 0
        batch: list[bytes] = []
        async for member, _ in self.client.zscan_iter(self.ids_key, match=pattern, count=500):
            batch.append(member)
            if len(batch) >= 500:
                deleted += await self._delete(batch)
                batch = []
        if batch:
            deleted += await self._delete(batch)
        await self.client.xadd(self.feed_key, {"d": encode_event(Purged(partition, alias))},
                               maxlen=self.max_entries + FEED_SLACK, approximate=True)
        return deleted

    async def _delete(self, members: list[bytes]) -> int:
        async with self.client.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.delete(self.entry_prefix + member.rsplit(b":", 1)[1].decode())
            pipe.zrem(self.ids_key, *members)
            done = await pipe.execute()
        return sum(int(n) for n in done[:-1])

    async def follow(self) -> AsyncIterator[Event | CaughtUp]:
        """The feed from its oldest event, then as it grows; reconnects after an error
        (from where it was: events trimmed meanwhile are missed, which costs hits, not answers)."""
        last = "0-0"
        failures = 0
        behind = True
        while True:
            try:
                rows = await self.client.xread({self.feed_key: last}, count=READ_BATCH, block=BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a Redis that went away: retry, backing off up to 5 s
                failures += 1
                if failures == 1:
                    log.warning("semantic cache: cannot read the entry feed from Redis (%s); retrying",
                                type(exc).__name__)
                await asyncio.sleep(min(5.0, 0.1 * 2 ** min(failures, 6)))
                continue
            failures = 0
            read = 0
            for _, events in rows or ():
                read += len(events)
                for event_id, fields in events:
                    last = event_id.decode() if isinstance(event_id, bytes) else event_id
                    try:
                        event = decode_event(fields[b"d"])
                    except Exception:  # an event of another version: skipped
                        continue
                    yield event
            if behind and read < READ_BATCH:
                behind = False
                yield CaughtUp()

    async def aclose(self) -> None:
        """Nothing: the client belongs to the store."""
