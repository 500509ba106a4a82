"""``Counters`` over a sliding-window limit backend (memory and Redis stores).

The generic reserve/settle of the store is the rate limiter's own sliding
window with one bucket: the same arithmetic, the same Lua in Redis, so a
counter and a ``limits:`` bucket can never disagree on what "in the window" means.

While Redis is unreachable (and for the backend's back-off after), ``reserve``
raises ``StoreUnavailable``; a settle in that time is lost (the window then
counts the reservation as made).
"""

from __future__ import annotations

import math

from switchyard.storage.limits import LimitBackend
from switchyard.storage.limits.gcra import Bucket
from switchyard.storage.protocols import Refusal, Reservation, StoreUnavailable


def bucket(key: str, limit: float, window: float) -> Bucket:
    if not window > 0:
        raise ValueError("window must be positive seconds")
    if not limit > 0:
        raise ValueError("limit must be positive")
    # ``Bucket.limit`` is typed int for ``limits:``; the arithmetic takes any positive number.
    return Bucket(key=key, scope="counter", subject=key, kind="rpm", limit=limit,  # type: ignore[arg-type]
                  period=window)


class WindowCounters:
    """Reserve/settle counters backed by a sliding-window ``LimitBackend``."""

    def __init__(self, backend: LimitBackend) -> None:
        self.backend = backend

    async def reserve(self, key: str, amount: float, limit: float, window: float) -> Reservation | Refusal:
        if amount < 0:
            raise ValueError("amount must not be negative")
        decision = await self.backend.acquire([bucket(key, limit, window)], [amount])
        if decision.degraded:  # the backend admitted blind: for a counter that is no answer
            raise StoreUnavailable("the counters' server is unreachable")
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
