"""Sliding-window logs in Redis: the arithmetic of sliding.py in two atomic Lua scripts.

Each bucket is two keys: a sorted set of its slots (member and score: the slot
number, ``ceil(now / width)``) and a hash of slot -> units, plus field ``t``,
the window's total. ``ACQUIRE`` reads the Redis server's ``TIME`` (so replicas
never disagree), drops the slots that left the window, checks EVERY bucket of
the request and only then reserves in all of them (all or nothing); it returns
the moment it used (in microseconds), which is the reservation's ``ref``.
``ADJUST`` settles a reservation: it recomputes each bucket's slot from that
``ref`` and corrects it in place (a refund never below zero; an extra whose
slot already left counts now). Keys expire one period after their newest slot.

Bounded: a window holds at most ``slots + 1`` entries (``limits.window_slots``),
whatever the traffic. Outage handling (fail open / closed, the back-off, the
health report) is ``RedisBackend``'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from switchyard.storage.limits.gcra import Bucket, Decision
from switchyard.storage.limits.gcra_redis import RedisBackend
from switchyard.storage.limits.sliding import SLOTS

# KEYS: per bucket (slots zset, amounts hash). ARGV: slots, then per bucket (period µs, limit, cost),
# then 'peek' to only ask (reserve nothing). Returns {refused (1-based, 0 = none), wait ms, now µs, fill ms..., left...}.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slots = tonumber(ARGV[1])
local n = #KEYS / 2
local peek = #ARGV > 1 + 3 * n
local out = {0, '0', now}
local wait = 0
local totals = {}
for i = 1, n do
  local z, h = KEYS[2 * i - 1], KEYS[2 * i]
  local period = tonumber(ARGV[3 * i - 1])
  local limit = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local width = period / slots
  local cutoff = now / width - slots
  local total = tonumber(redis.call('HGET', h, 't')) or 0
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
  if #gone > 0 then
    local amounts = redis.call('HMGET', h, unpack(gone))
    for j = 1, #gone do total = total - (tonumber(amounts[j]) or 0) end
    redis.call('HDEL', h, unpack(gone))
    redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
    if total < 0 or redis.call('ZCARD', z) == 0 then total = 0 end
    redis.call('HSET', h, 't', total)
  end
  totals[i] = total
  local over = 0
  if cost > limit then
    over = math.huge
  elseif total + cost > limit + 0.000000001 then
    local need = total + cost - limit
    local freed = 0
    over = period
    local start = 0
    while start < slots + 2 do
      local batch = redis.call('ZRANGE', z, start, start + 63)
      if #batch == 0 then break end
      local amounts = redis.call('HMGET', h, unpack(batch))
      local found = false
      for j = 1, #batch do
        freed = freed + (tonumber(amounts[j]) or 0)
        if freed >= need - 0.000000001 then
          over = (tonumber(batch[j]) + slots) * width - now
          found = true
          break
        end
      end
      if found then break end
      start = start + 64
    end
    if over < 1 then over = 1 end
  end
  if over > wait then
    wait = over
    out[1] = i
    if over == math.huge then out[2] = 'inf' else out[2] = string.format('%.3f', over / 1000) end
  end
end
local admitted = out[1] == 0 and not peek
for i = 1, n do
  -- What the headers show: each window as it is now (after this reservation, if admitted).
  local period = tonumber(ARGV[3 * i - 1])
  local limit = tonumber(ARGV[3 * i])
  local width = period / slots
  local fill, left
  if admitted then
    fill = (math.ceil(now / width) + slots) * width - now
    left = limit - totals[i] - tonumber(ARGV[3 * i + 1])
  else
    local newest = redis.call('ZRANGE', KEYS[2 * i - 1], -1, -1)
    if #newest > 0 then fill = (tonumber(newest[1]) + slots) * width - now else fill = 0 end
    left = limit - totals[i]
  end
  if fill < 0 then fill = 0 end
  if left < 0 then left = 0 end
  out[3 + i] = string.format('%.3f', fill / 1000)
  out[3 + n + i] = string.format('%.3f', left)
end
if admitted then
  for i = 1, n do
    local z, h = KEYS[2 * i - 1], KEYS[2 * i]
    local period = tonumber(ARGV[3 * i - 1])
    local cost = tonumber(ARGV[3 * i + 1])
    local width = period / slots
    local slot = math.ceil(now / width)
    redis.call('ZADD', z, slot, slot)
    redis.call('HINCRBYFLOAT', h, slot, cost)
    redis.call('HSET', h, 't', totals[i] + cost)
    local ttl = math.ceil((period + width) / 1000) + 1000
    redis.call('PEXPIRE', z, ttl)
    redis.call('PEXPIRE', h, ttl)
  end
end
return out
"""

# KEYS: per bucket (slots zset, amounts hash). ARGV: slots, ref µs (or ''), then per bucket (period µs, delta).
ADJUST = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slots = tonumber(ARGV[1])
local ref = tonumber(ARGV[2])
for i = 1, #KEYS / 2 do
  local z, h = KEYS[2 * i - 1], KEYS[2 * i]
  local period = tonumber(ARGV[2 * i + 1])
  local delta = tonumber(ARGV[2 * i + 2])
  local width = period / slots
  local done = false
  if ref then
    local slot = math.ceil(ref / width)
    if slot > now / width - slots then
      local amount = tonumber(redis.call('HGET', h, slot))
      if amount then
        local new = amount + delta
        if new < 0 then new = 0 end
        redis.call('HSET', h, slot, new)
        local total = (tonumber(redis.call('HGET', h, 't')) or 0) + new - amount
        if total < 0 then total = 0 end
        redis.call('HSET', h, 't', total)
        done = true
      end
    end
  end
  if not done and delta > 0 then
    local slot = math.ceil(now / width)
    redis.call('ZADD', z, slot, slot)
    redis.call('HINCRBYFLOAT', h, slot, delta)
    redis.call('HINCRBYFLOAT', h, 't', delta)
    local ttl = math.ceil((period + width) / 1000) + 1000
    redis.call('PEXPIRE', z, ttl)
    redis.call('PEXPIRE', h, ttl)
  end
end
return 1
"""


class SlidingRedisBackend(RedisBackend):
    """The sliding window in Redis, shared by every replica. ``on_error`` is ``"open"`` or ``"closed"``."""

    algorithm = "sliding_window"

    def __init__(self, redis: Any, prefix: str, on_error: str = "open", retry_after: float = 1.0,
                 slots: int = SLOTS) -> None:
        super().__init__(redis, prefix, on_error, retry_after)
        self.prefix = prefix + "sw:"
        self.slots = slots
        self._acquire = redis.register_script(ACQUIRE)
        self._adjust = redis.register_script(ADJUST)

    def _keys(self, buckets: Sequence[Bucket]) -> list[str]:
        keys: list[str] = []
        prefix = self.prefix
        for bucket in buckets:
            keys += (prefix + bucket.key, prefix + bucket.key + ":a")
        return keys

    async def acquire(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> Decision:
        if self._down_until and time.monotonic() < self._down_until:
            return self._unreachable()
        argv: list[Any] = [self.slots]
        for bucket, cost in zip(buckets, costs):
            argv += (int(bucket.period * 1_000_000), bucket.limit, cost)
        try:
            out = await self._acquire(keys=self._keys(buckets), args=argv)
        except self._errors as exc:
            self._went_down(exc)
            return self._unreachable()
        if self._down_since is not None:
            self._came_back()
        n = len(buckets)
        refused = int(out[0]) - 1
        ref = float(out[2])
        fills = [float(v) / 1000.0 for v in out[3:3 + n]]
        left = [float(v) for v in out[3 + n:3 + 2 * n]]
        if refused < 0:
            return Decision(True, fills, left=left, ref=ref)
        return Decision(False, fills, refused, float(out[1]) / 1000.0, left=left, ref=ref)

    async def room_after(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> float | None:
        """Seconds until ``costs`` fit in every bucket (0: now, ``inf``: never), by the same
        script as ``acquire`` but reserving nothing; None when Redis cannot say."""
        argv: list[Any] = [self.slots]
        for bucket, cost in zip(buckets, costs):
            argv += (int(bucket.period * 1_000_000), bucket.limit, cost)
        return await self._peek(self._keys(buckets), argv)

    async def adjust(self, buckets: Sequence[Bucket], deltas: Sequence[float], ref: float | None = None) -> None:
        pairs = [(b, d) for b, d in zip(buckets, deltas) if d]
        if not pairs or (self._down_until and time.monotonic() < self._down_until):
            return
        argv: list[Any] = [self.slots, "" if ref is None else int(ref)]
        for bucket, delta in pairs:
            argv += (int(bucket.period * 1_000_000), delta)
        try:
            await self._adjust(keys=self._keys([b for b, _ in pairs]), args=argv)
        except self._errors as exc:
            self._went_down(exc)
