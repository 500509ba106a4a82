"""Retries of one deployment: exponential backoff with full jitter, under a budget.

A failed attempt is tried again on the same deployment only when all hold:

- the error is ``retryable`` (timeouts, connection errors, 429, 5xx, overloaded;
  never a 4xx, never ``CircuitOpen``);
- the request has attempts left (``retry.attempts`` counts the first);
- the wait — the upstream's ``Retry-After`` / ``retry-after-ms`` / reset header
  when it sent one, else ``uniform(0, min(max_delay, base_delay * 2**n))`` — is
  at most ``max_retry_after`` and ends before the request's deadline;
- the gateway-wide ``RetryBudget`` has a retry left.

Otherwise the error goes up and the fallback chain moves on to the next
deployment, which is usually the better bet than waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.core.call import Attempt, Call
from switchyard.core.config.reliability import RetryConfig
from switchyard.core.errors import SwitchyardError
from switchyard.core.stage import Unary

_BUCKETS = 10

log = logging.getLogger("switchyard.reliability")


class RetryBudget:
    """Caps retries as a fraction of live traffic over a rolling window.

    Every first attempt deposits ``ratio`` of a retry; a retry spends one. At
    most ``minimum`` retries per window are allowed regardless of traffic so a
    quiet gateway can still retry. One object per gateway, shared by every
    deployment: during an outage retries stay a bounded fraction of requests.
    """

    def __init__(self, ratio: float, window: float, minimum: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ratio = ratio
        self.minimum = minimum
        self.clock = clock
        self._span = window / _BUCKETS
        self._stamps = [-1] * _BUCKETS
        self._requests = [0] * _BUCKETS
        self._retries = [0] * _BUCKETS
        self.refused = 0

    @classmethod
    def from_config(cls, settings: RetryConfig, clock: Callable[[], float] = time.monotonic) -> RetryBudget:
        return cls(settings.budget_ratio, settings.budget_window, settings.budget_min, clock)

    def _slot(self) -> int:
        tick = int(self.clock() / self._span)
        slot = tick % _BUCKETS
        if self._stamps[slot] != tick:
            self._stamps[slot] = tick
            self._requests[slot] = 0
            self._retries[slot] = 0
        return slot

    def record_request(self) -> None:
        self._requests[self._slot()] += 1

    def _totals(self) -> tuple[int, int]:
        oldest = int(self.clock() / self._span) - _BUCKETS + 1
        requests = retries = 0
        for i in range(_BUCKETS):
            if self._stamps[i] >= oldest:
                requests += self._requests[i]
                retries += self._retries[i]
        return requests, retries

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and counted) when it is spent."""
        slot = self._slot()
        requests, retries = self._totals()
        if retries >= self.minimum + self.ratio * requests:
            self.refused += 1
            return False
        self._retries[slot] += 1
        return True

    def snapshot(self) -> dict[str, Any]:
        requests, retries = self._totals()
        return {"requests": requests, "retries": retries, "refused": self.refused,
                "allowed": int(self.minimum + self.ratio * requests)}


class RetryPolicy:
    """Retries one deployment (see the module docstring for when)."""

    def __init__(
        self,
        deployment_id: str,
        settings: RetryConfig,
        budget: RetryBudget,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.deployment_id = deployment_id
        self.settings = settings
        self.budget = budget
        self._sleep = sleep
        self._rand = rand

    def backoff(self, exc: SwitchyardError, retry: int, call: Call) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based), or None: do not retry."""
        s = self.settings
        if not exc.retryable or retry >= s.attempts:
            return None
        if exc.retry_after is not None:
            if exc.retry_after > s.max_retry_after:
                return None
            delay = exc.retry_after
        else:
            delay = self._rand() * min(s.max_delay, s.base_delay * 2 ** (retry - 1))
        remaining = call.remaining()
        if remaining is not None and delay >= remaining:
            return None
        if not self.budget.try_spend():
            return None
        return delay

    async def unary(self, call: Call, next: Unary) -> Any:
        self.budget.record_request()
        retry = 1
        while True:
            try:
                return await next(call)
            except SwitchyardError as exc:
                delay = self.backoff(exc, retry, call)
                if delay is None:
                    raise
                call.attempts.append(Attempt(self.deployment_id, exc.status, f"{exc.message} (retried)", exc, retried=True))
                log.info("retry", extra={"request_id": call.request_id, "deployment": self.deployment_id,
                                         "attempt": retry, "status": exc.status, "code": exc.code, "delay_s": round(delay, 3)})
            if delay > 0:
                await self._sleep(delay)
            retry += 1

    # A stream's retries cover everything up to its first chunk: the inner
    # policies hand back a primed stream, so "opening" includes that chunk.
    stream = unary
