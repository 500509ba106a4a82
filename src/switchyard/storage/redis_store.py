"""``redis://…`` (also ``rediss://``, ``unix://``): state shared by every replica.

One ``redis.asyncio`` client per store, created without I/O (connections open
on first use). Every key starts with the store's prefix (``redis.prefix``):

=============================  ===============================================
``<prefix><key>``              kv (sticky sessions: ``sticky:…``, breakers: ``breaker:…``)
``<prefix>ctr:sw:<key>``       counters (the sliding-window Lua of ``limits/``)
``<prefix>sw:`` / ``rl:``      ``limits:`` buckets (sliding window / GCRA)
``<prefix>rec:<stream>``       records: a Redis stream with ids ``0-<n>`` (n from ``…:seq``)
``<prefix>q:<queue>:*``        queue: ``vis`` (zset id -> visible at, ms), ``jobs``, ``meta``
``<prefix><channel>``          pub/sub channels
=============================  ===============================================

Times (TTL, leases, windows) are the Redis server's clock (``TIME`` in Lua),
so replicas whose clocks drift still agree. Records are not trimmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from switchyard.storage.counting import WindowCounters
from switchyard.storage.fanout import MailboxSubscription
from switchyard.storage.limits import LimitBackend
from switchyard.storage.limits.gcra_redis import RedisBackend
from switchyard.storage.limits.sliding import SLOTS
from switchyard.storage.limits.sliding_redis import SlidingRedisBackend
from switchyard.storage.protocols import Job, Record
from switchyard.storage.url import StoreSpec

# Milliseconds to the microsecond (Redis' own clock): a job put back is ordered after one enqueued a
# moment before it, even within the same millisecond. Scores are written with ``at`` (Lua's default
# number format keeps 14 digits: a tenth of a millisecond, too coarse for that).
_NOW_MS = ("local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000\n"
           "local function at(ms) return string.format('%.3f', ms) end\n")

# KEYS: key. ARGV: expected ('' with ARGV[4] == '1': absent), value, ttl ms ('' none), absent flag.
_REPLACE = """
local current = redis.call('GET', KEYS[1])
if ARGV[4] == '1' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""

# KEYS: stream, sequence. ARGV: data.
_APPEND = """
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], '0-' .. id, 'd', ARGV[1])
return id
"""

# KEYS: vis, jobs, seq. ARGV: payload, delay ms.
_ENQUEUE = _NOW_MS + """
local id = string.format('%016d', redis.call('INCR', KEYS[3]))
redis.call('HSET', KEYS[2], id, ARGV[1])
redis.call('ZADD', KEYS[1], at(now + tonumber(ARGV[2])), id)
return id
"""

# KEYS: vis, jobs, meta. ARGV: lease ms, lease token.
_CLAIM = _NOW_MS + """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', at(now), 'LIMIT', 0, 1)
if #found == 0 then return false end
local id = found[1]
redis.call('ZADD', KEYS[1], at(now + tonumber(ARGV[1])), id)
local attempts = redis.call('HINCRBY', KEYS[3], id .. ':a', 1)
redis.call('HSET', KEYS[3], id .. ':l', ARGV[2])
return {id, redis.call('HGET', KEYS[2], id), attempts}
"""

# KEYS: vis, jobs, meta. ARGV: id, lease token, 'ack' or a delay in ms.
_FINISH = _NOW_MS + """
local id = ARGV[1]
local until_ = tonumber(redis.call('ZSCORE', KEYS[1], id))
if not until_ or until_ <= now or redis.call('HGET', KEYS[3], id .. ':l') ~= ARGV[2] then return 0 end
if ARGV[3] == 'ack' then
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id .. ':a', id .. ':l')
else
  redis.call('ZADD', KEYS[1], at(now + tonumber(ARGV[3])), id)
  redis.call('HDEL', KEYS[3], id .. ':l')
end
return 1
"""


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(1, int(seconds * 1000))


class RedisKV:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._replace = client.register_script(_REPLACE)

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self.client.get(self.prefix + key)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self.client.set(self.prefix + key, value, px=_ms(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return bool(await self.client.set(self.prefix + key, value, px=_ms(ttl), nx=True))

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None) -> bool:
        ttl_ms = _ms(ttl)
        args = [expected or b"", value, "" if ttl_ms is None else ttl_ms, "1" if expected is None else "0"]
        return bool(await self._replace(keys=[self.prefix + key], args=args))

    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(self.prefix + key))


class RedisSubscription(MailboxSubscription):
    def __init__(self, store: RedisStore, channel: str, buffer: int) -> None:
        super().__init__(channel, buffer)
        self.store = store
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        self._pubsub = self.store.client.pubsub()
        await self._pubsub.subscribe(self.store.prefix + self.channel)
        # Live only once Redis confirmed: a publish after this returns is delivered.
        while True:
            message = await self._pubsub.get_message(timeout=self.store.connect_timeout + 5)
            if message is None:
                raise TimeoutError("Redis did not confirm the subscription")
            if message["type"] == "subscribe":
                break
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="switchyard-redis-subscription")
        self.store.subscriptions.add(self)

    async def _read(self) -> None:
        try:
            async for message in self._pubsub.listen():
                if message["type"] == "message":
                    self.mailbox.put(message["data"])
        finally:
            self.mailbox.close()

    async def _close(self) -> None:
        self.store.subscriptions.discard(self)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None


class RedisPubSub:
    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def publish(self, channel: str, message: bytes) -> None:
        await self.store.client.publish(self.store.prefix + channel, message)

    def subscribe(self, channel: str, *, buffer: int = 1024) -> RedisSubscription:
        return RedisSubscription(self.store, channel, buffer)


class RedisRecords:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix + "rec:"
        self._append = client.register_script(_APPEND)

    async def append(self, stream: str, data: bytes) -> int:
        key = self.prefix + stream
        return int(await self._append(keys=[key, key + ":seq"], args=[data]))

    async def read(self, stream: str, after: int = 0, limit: int = 100) -> list[Record]:
        rows = await self.client.xrange(self.prefix + stream, min=f"0-{after + 1}", max="+", count=limit)
        return [Record(int(rid.split(b"-")[1]), fields[b"d"]) for rid, fields in rows]


class RedisQueue:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix + "q:"
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)

    def _keys(self, queue: str) -> list[str]:
        base = self.prefix + queue
        return [base + ":vis", base + ":jobs", base + ":meta"]

    async def enqueue(self, queue: str, payload: bytes, *, delay: float = 0.0) -> str:
        base = self.prefix + queue
        job_id = await self._enqueue(keys=[base + ":vis", base + ":jobs", base + ":seq"],
                                     args=[payload, int(max(0.0, delay) * 1000)])
        return f"{queue}/{job_id.decode()}"

    async def claim(self, queue: str, lease: float) -> Job | None:
        token = uuid.uuid4().hex
        out = await self._claim(keys=self._keys(queue), args=[int(lease * 1000), token])
        if not out:
            return None
        job_id, payload, attempts = out
        return Job(f"{queue}/{job_id.decode()}", payload, int(attempts), token)

    async def _done(self, job: Job, how: str) -> bool:
        queue, _, job_id = job.id.rpartition("/")
        return bool(await self._finish(keys=self._keys(queue), args=[job_id, job.lease, how]))

    async def ack(self, job: Job) -> bool:
        return await self._done(job, "ack")

    async def nack(self, job: Job, delay: float = 0.0) -> bool:
        return await self._done(job, str(int(max(0.0, delay) * 1000)))

    async def pending(self, queue: str) -> int:
        return int(await self.client.zcard(self._keys(queue)[0]))


class RedisStore:
    """The Redis store; also keeps the ``limits:`` counters (``LimitStore``).

    Options: ``connect_timeout`` (default 1.0 s), ``operation_timeout`` (0.5 s).
    """

    def __init__(self, spec: StoreSpec) -> None:
        import redis.asyncio as aioredis

        self.url = spec.masked
        self.prefix = spec.prefix
        try:
            self.connect_timeout = float(spec.options.get("connect_timeout", 1.0))
            self.operation_timeout = float(spec.options.get("operation_timeout", 0.5))
        except (TypeError, ValueError):
            raise spec.error("connect_timeout and operation_timeout must be seconds") from None
        try:
            self.client: Any = aioredis.Redis.from_url(
                spec.url, socket_connect_timeout=self.connect_timeout, socket_timeout=self.operation_timeout)
        except ValueError as exc:  # redis-py's message may quote the URL: not echoed
            raise spec.error(f"not a usable Redis URL ({type(exc).__name__})") from None
        self.subscriptions: set[RedisSubscription] = set()
        self.counters = WindowCounters(SlidingRedisBackend(self.client, self.prefix + "ctr:", on_error="open"))
        self.kv = RedisKV(self.client, self.prefix)
        self.pubsub = RedisPubSub(self)
        self.records = RedisRecords(self.client, self.prefix)
        self.queue = RedisQueue(self.client, self.prefix)

    def limit_backend(self, algorithm: str, *, slots: int = SLOTS, on_error: str = "open",
                      retry_after: float = 1.0) -> LimitBackend:
        """The ``limits:`` buckets in this Redis, under this store's prefix."""
        if algorithm == "sliding_window":
            return SlidingRedisBackend(self.client, self.prefix, on_error, retry_after, slots=slots)
        if algorithm == "gcra":
            return RedisBackend(self.client, self.prefix, on_error, retry_after)
        raise ValueError(f"unknown limit algorithm {algorithm!r}")

    async def aclose(self) -> None:
        for subscription in list(self.subscriptions):
            await subscription.__aexit__(None, None, None)
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r})"
