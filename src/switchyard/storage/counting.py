"""``Counters`` over a sliding-window limit backend (memory and Redis stores).

The generic reserve/settle of the store is the rate limiter's own sliding
window with one bucket: the same arithmetic, the same Lua in Redis, so a
counter and a ``limits:`` bucket can never disagree on what "in the window" means.
"""

from __future__ import annotations

import math

from switchyard.storage.limits import LimitBackend
from switchyard.storage.limits.gcra import Bucket
from switchyard.storage.protocols import Refusal, Reservation


def bucket(key: str, limit: float, window: float) -> Bucket:
    if not window > 0:
        raise ValueError("window must be positive seconds")
    if not limit > 0:
        raise ValueError("limit must be positive")
    return Bucket(key=key, scope="counter", subject=key, kind="rpm", limit=limit, period=window)  # type: ignore[arg-type]


class WindowCounters:
    """Reserve/settle counters backed by a sliding-window ``LimitBackend``."""

    def __init__(self, backend: LimitBackend) -> None:
        self.backend = backend

    async def reserve(self, key: str, amount: float, limit: float, window: float) -> Reservation | Refusal:
        if amount < 0:
            raise ValueError("amount must not be negative")
        decision = await self.backend.acquire([bucket(key, limit, window)], [amount])
        left = decision.left[0] if decision.left else 0.0
        if decision.allowed:
            return Reservation(key, amount, limit, window, decision.ref or 0.0, left)
        wait = decision.retry_after
        return Refusal(key, amount, math.inf if wait == math.inf else wait, left)

    async def settle(self, reservation: Reservation, actual: float) -> None:
        delta = actual - reservation.amount
        if delta:
            await self.backend.adjust([bucket(reservation.key, reservation.limit, reservation.window)], [delta],
                                      reservation.ref)

    async def refund(self, reservation: Reservation) -> None:
        await self.settle(reservation, 0.0)
