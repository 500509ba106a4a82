"""``Counters`` over a sliding-window limit backend (memory and Redis stores).

The generic reserve/settle of the store is the rate limiter's own sliding
window with one bucket: the same arithmetic, the same Lua in Redis, so a
counter and a ``limits:`` bucket can never disagree on what "in the window" means.

While Redis is unreachable (and for the backend's back-off after), ``reserve``
raises ``StoreUnavailable``; a settle in that time is lost (the window then
counts the reservation as made).

Beyond the protocol, ``reserve_all`` / ``settle_all`` reserve in several
counters at once — all or nothing, one Lua script in Redis — and settle them
in one go: a request under a key's, a team's and a tenant's budget costs two
round trips, not six.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from switchyard.storage.limits import LimitBackend
from switchyard.storage.limits.gcra import Bucket
from switchyard.storage.protocols import Refusal, Reservation, StoreUnavailable


def bucket(key: str, limit: float, window: float) -> Bucket:
    if not window > 0:
        raise ValueError("window must be positive seconds")
    if not limit > 0:
        raise ValueError("limit must be positive")
    # ``Bucket.limit`` is typed int for ``limits:``; the arithmetic takes any positive number.
    return Bucket(key, "counter", key, "rpm", limit, window)  # type: ignore[arg-type]


#: Buckets kept for settling (a settle reads a bucket's key and window, never its limit).
MAX_SETTLE_BUCKETS = 10_000


class WindowCounters:
    """Reserve/settle counters backed by a sliding-window ``LimitBackend``."""

    def __init__(self, backend: LimitBackend) -> None:
        self.backend = backend
        self._settling: dict[tuple[str, float], Bucket] = {}

    def _settle_bucket(self, key: str, window: float) -> Bucket:
        """A bucket to correct ``key``'s window with: made once per key (a frozen dataclass
        costs microseconds to build, and a settle happens on every request)."""
        found = self._settling.get((key, window))
        if found is None:
            if len(self._settling) >= MAX_SETTLE_BUCKETS:
                self._settling.clear()
            found = self._settling[(key, window)] = bucket(key, 1.0, window)
        return found

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
            await self.backend.adjust([self._settle_bucket(reservation.key, reservation.window)], [delta],
                                      reservation.ref)

    async def refund(self, reservation: Reservation) -> None:
        await self.settle(reservation, 0.0)

    async def reserve_all(self, asks: Sequence[tuple[str, float, float, float]]) -> list[Reservation] | Refusal:
        """``(key, amount, limit, window)`` each reserved if every one fits, else the first refusal."""
        buckets = []
        amounts = []
        for key, amount, limit, window in asks:
            if amount < 0:
                raise ValueError("amount must not be negative")
            buckets.append(bucket(key, limit, window))
            amounts.append(amount)
        decision = await self.backend.acquire(buckets, amounts)
        if decision.degraded:
            raise StoreUnavailable("the counters' server is unreachable")
        left = decision.left or [0.0] * len(asks)
        if decision.allowed:
            ref = decision.ref or 0.0
            return [Reservation(k, amount, limit, window, ref, room)
                    for (k, amount, limit, window), room in zip(asks, left)]
        key, amount, _, _ = asks[decision.refused]
        wait = decision.retry_after
        return Refusal(key, amount, math.inf if wait == math.inf else wait, left[decision.refused])

    async def settle_all(self, reservations: Sequence[Reservation], actual: float) -> None:
        """Correct reservations made together (``reserve_all``) to ``actual`` units each."""
        moved = [r for r in reservations if actual != r.amount]
        if moved:
            await self.backend.adjust([self._settle_bucket(r.key, r.window) for r in moved],
                                      [actual - r.amount for r in moved], moved[0].ref)
