"""GCRA buckets in Redis: one atomic Lua script per decision, shared by every replica.

The script reads the Redis server's own clock (``TIME``), so replicas whose
clocks drift still agree, and checks every bucket of a request before charging
any (all or nothing). Keys expire when their bucket is whole again.

When Redis cannot be reached the backend follows ``on_backend_error``: *open*
admits (unlimited, logged), *closed* answers 503. Either way it stops asking
Redis for ``retry_backend_after`` seconds, so an outage costs no time per
request, and it reports its state to ``/health/ready``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from switchyard.core.errors import ServiceUnavailable
from switchyard.storage.limits.gcra import ALLOWED_BLIND, Bucket, Decision

log = logging.getLogger("switchyard.admission")

# ARGV: per bucket (period ms, limit, cost), then 'peek' to only ask (reserve nothing).
# Returns {refused (1-based, 0 = none), wait ms, fill ms...}.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n = #KEYS
local peek = #ARGV > 3 * n
local new = {}
local out = {0, '0'}
local wait = 0
for i = 1, n do
  local period = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local after = tat + cost * period / limit
  local over = after - now - period
  if cost > limit then over = math.huge end
  if over > 0.000001 then
    if over > wait then
      wait = over
      out[1] = i
      if over == math.huge then out[2] = 'inf' else out[2] = string.format('%.3f', over) end
    end
    new[i] = tat
  else
    new[i] = after
  end
  out[i + 2] = string.format('%.3f', new[i] - now)
end
if out[1] == 0 and not peek then
  for i = 1, n do
    local ttl = math.ceil(new[i] - now) + 1000
    redis.call('SET', KEYS[i], string.format('%.3f', new[i]), 'PX', ttl)
  end
end
return out
"""

# ARGV: per bucket (period ms, limit, delta); a negative delta refunds, never below now.
ADJUST = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i = 1, #KEYS do
  local period = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local delta = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local new = tat + delta * period / limit
  if new > now then
    redis.call('SET', KEYS[i], string.format('%.3f', new), 'PX', math.ceil(new - now) + 1000)
  else
    redis.call('DEL', KEYS[i])
  end
end
return 1
"""


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rexc

    return (rexc.ConnectionError, rexc.TimeoutError, OSError)


class RedisBackend:
    """GCRA in Redis. ``on_error`` is ``"open"`` or ``"closed"``."""

    name = "redis"
    algorithm = "gcra"

    def __init__(self, redis: Any, prefix: str, on_error: str = "open", retry_after: float = 1.0) -> None:
        self.redis = redis
        self.prefix = prefix + "rl:"
        self.on_error = on_error
        self.retry_after = retry_after
        self._acquire = redis.register_script(ACQUIRE)
        self._adjust = redis.register_script(ADJUST)
        self._errors = _unreachable_errors()
        self._down_until = 0.0
        self._down_since: float | None = None
        self.last_error: str | None = None

    def _args(self, buckets: Sequence[Bucket], amounts: Sequence[float]) -> tuple[list[str], list[Any]]:
        keys = [self.prefix + b.key for b in buckets]
        argv: list[Any] = []
        for bucket, amount in zip(buckets, amounts):
            argv += (bucket.period * 1000.0, bucket.limit, amount)
        return keys, argv

    async def acquire(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> Decision:
        if self._down_until and time.monotonic() < self._down_until:
            return self._unreachable()
        keys, argv = self._args(buckets, costs)
        try:
            out = await self._acquire(keys=keys, args=argv)
        except self._errors as exc:
            self._went_down(exc)
            return self._unreachable()
        if self._down_since is not None:
            self._came_back()
        refused = int(out[0]) - 1
        fills = [float(v) / 1000.0 for v in out[2:]]
        if refused < 0:
            return Decision(True, fills)
        return Decision(False, fills, refused, float(out[1]) / 1000.0)

    async def room_after(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> float | None:
        """Seconds until ``costs`` fit in every bucket (0: now, ``inf``: never), by the same
        script as ``acquire`` but reserving nothing; None when Redis cannot say."""
        keys, argv = self._args(buckets, costs)
        return await self._peek(keys, argv)

    async def _peek(self, keys: list[str], argv: list[Any]) -> float | None:
        if self._down_until and time.monotonic() < self._down_until:
            return None
        try:
            out = await self._acquire(keys=keys, args=[*argv, "peek"])
        except self._errors as exc:
            self._went_down(exc)
            return None
        return float(out[1]) / 1000.0 if int(out[0]) else 0.0

    async def adjust(self, buckets: Sequence[Bucket], deltas: Sequence[float], ref: float | None = None) -> None:
        pairs = [(b, d) for b, d in zip(buckets, deltas) if d]
        if not pairs or (self._down_until and time.monotonic() < self._down_until):
            return
        keys, argv = self._args([b for b, _ in pairs], [d for _, d in pairs])
        try:
            await self._adjust(keys=keys, args=argv)
        except self._errors as exc:
            self._went_down(exc)

    def _unreachable(self) -> Decision:
        if self.on_error == "open":
            return ALLOWED_BLIND
        raise ServiceUnavailable(
            "Rate limits cannot be checked: the limits backend (Redis) is unreachable and the gateway is "
            "configured to fail closed (limits.on_backend_error: closed).",
            code="limits_backend_unreachable", retry_after=self.retry_after,
        )

    def _went_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_after
        self.last_error = type(exc).__name__
        if self._down_since is None:
            self._down_since = time.time()
            action = "admitting requests without limits" if self.on_error == "open" else "refusing requests (503)"
            log.warning("limits backend Redis unreachable (%s): failing %s, %s; retrying every %.1fs",
                        self.last_error, self.on_error, action, self.retry_after)

    def _came_back(self) -> None:
        log.warning("limits backend Redis reachable again after %.1fs; limits enforced",
                    time.time() - (self._down_since or time.time()))
        self._down_since = None
        self._down_until = 0.0
        self.last_error = None

    def status(self) -> dict[str, object]:
        if self._down_since is None:
            return {"backend": "redis", "algorithm": self.algorithm, "state": "ok", "on_error": self.on_error}
        return {"backend": "redis", "algorithm": self.algorithm, "state": "unreachable", "on_error": self.on_error,
                "failing": self.on_error, "since": round(self._down_since, 3), "error": self.last_error}

    @property
    def healthy(self) -> bool:
        """False only when requests are being refused because of the backend."""
        return self._down_since is None or self.on_error == "open"

    async def aclose(self) -> None:
        return None
