"""``Counters`` over a sliding-window limit backend (Redis), and in this process (memory).

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
import time
from collections.abc import Callable, Sequence
from math import ceil

from switchyard.storage.limits import LimitBackend
from switchyard.storage.limits.gcra import Bucket
from switchyard.storage.limits.sliding import SLOTS, Window
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


class MemoryCounters:
    """The counters of the in-process store: each key a sliding-window log (the limiter's own
    ``Window``: the same slots, the same arithmetic), reserved and settled in place.

    A budgeted request reserves and settles on every call, so this is written for that
    path: no bucket or decision objects, and ``reserve_all_now`` / ``settle_all_now``
    that need no await (the ledger calls them directly when a store has them). At most
    ``max_keys`` windows: past it, the empty ones are swept."""

    def __init__(self, slots: int = SLOTS, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 200_000) -> None:
        self.slots = slots
        self.clock = clock
        self.max_keys = max_keys
        self._windows: dict[str, Window] = {}

    # -- the protocol ---------------------------------------------------------------------------------
    async def reserve(self, key: str, amount: float, limit: float, window: float) -> Reservation | Refusal:
        return self.reserve_one_now(key, amount, limit, window)

    async def settle(self, reservation: Reservation, actual: float) -> None:
        self.settle_one_now(reservation, actual)

    async def refund(self, reservation: Reservation) -> None:
        self.settle_one_now(reservation, 0.0)

    async def reserve_all(self, asks: Sequence[tuple[str, float, float, float]]) -> list[Reservation] | Refusal:
        return self.reserve_all_now(asks)

    async def settle_all(self, reservations: Sequence[Reservation], actual: float) -> None:
        self.settle_all_now(reservations, actual)

    # -- without awaiting -----------------------------------------------------------------------------
    def reserve_all_now(self, asks: Sequence[tuple[str, float, float, float]]) -> list[Reservation] | Refusal:
        """``(key, amount, limit, window)`` each reserved if every one fits (all or nothing), else
        the refusal of the one that stays full longest."""
        now = self.clock()
        slots = self.slots
        windows = self._windows
        for key, amount, limit, _ in asks:
            if amount < 0:
                raise ValueError("amount must not be negative")
            found = windows.get(key)
            if found is None:
                if amount > limit + 1e-9:
                    return self._refusal(asks, now)
                continue
            cutoff = now / found.width - slots
            entries = found.entries
            if not entries or entries[0][0] <= cutoff or found.total < 0:  # else ``expire`` has nothing to do
                found.expire(cutoff)
            if found.total + amount > limit + 1e-9:
                return self._refusal(asks, now)
        if len(windows) >= self.max_keys:
            self._sweep(now)
        out = []
        for key, amount, limit, period in asks:
            found = windows.get(key)
            if found is None:
                found = windows[key] = Window(period / slots)
            slot = ceil(now / found.width)
            entry = found.by_slot.get(slot)
            if entry is None:
                found.add(slot, amount)
            else:  # ``Window.add`` to a slot it holds (a budget's slot lasts 1/1000 of its period)
                entry[1] += amount
                found.total += amount
            left = limit - found.total
            out.append(Reservation(key, amount, limit, period, now, left if left > 0.0 else 0.0))
        return out

    def reserve_one_now(self, key: str, amount: float, limit: float, period: float) -> Reservation | Refusal:
        """``reserve_all_now`` of one counter (a caller with one budget: the usual case), without
        the lists."""
        if amount < 0:
            raise ValueError("amount must not be negative")
        now = self.clock()
        windows = self._windows
        found = windows.get(key)
        if found is not None:
            cutoff = now / found.width - self.slots
            entries = found.entries
            if not entries or entries[0][0] <= cutoff or found.total < 0:  # else ``expire`` has nothing to do
                found.expire(cutoff)
            if found.total + amount > limit + 1e-9:
                return self._refusal(((key, amount, limit, period),), now)
        elif amount > limit + 1e-9:
            return self._refusal(((key, amount, limit, period),), now)
        if len(windows) >= self.max_keys:
            self._sweep(now)
            found = windows.get(key)
        if found is None:
            found = windows[key] = Window(period / self.slots)
        slot = ceil(now / found.width)
        entry = found.by_slot.get(slot)
        if entry is None:
            found.add(slot, amount)
        else:
            entry[1] += amount
            found.total += amount
        left = limit - found.total
        return Reservation(key, amount, limit, period, now, left if left > 0.0 else 0.0)

    def _refusal(self, asks: Sequence[tuple[str, float, float, float]], now: float) -> Refusal:
        """Of the asks that do not fit now, the one that stays full longest (``sliding.check``'s arithmetic)."""
        slots = self.slots
        windows = self._windows
        refused: tuple[str, float, float, float] | None = None
        wait = 0.0
        for ask in asks:
            key, amount, limit, period = ask
            found = windows.get(key)
            total = 0.0
            if found is not None:
                found.expire(now / found.width - slots)
                total = found.total
            if total + amount <= limit + 1e-9:
                continue
            if amount > limit:
                over = math.inf
            else:  # when enough of the oldest entries have left
                oldest = found.free_at(total + amount - limit) if found is not None else None
                over = max((oldest + slots) * (period / slots) - now, 1e-6) if oldest is not None else period
            if over > wait or refused is None:
                refused, wait = ask, over
        assert refused is not None
        key, amount, limit, _ = refused
        found = windows.get(key)
        return Refusal(key, amount, wait, max(0.0, limit - (found.total if found is not None else 0.0)))

    def settle_all_now(self, reservations: Sequence[Reservation], actual: float) -> None:
        """Correct reservations made together (``reserve_all_now``) to ``actual`` units each."""
        for reservation in reservations:
            self.settle_one_now(reservation, actual)

    def settle_one_now(self, reservation: Reservation, actual: float) -> None:
        """Correct a reservation to ``actual`` units: in its own slot while that is in the window,
        else an extra counted now (a refund of a slot that left has nothing to return)."""
        delta = actual - reservation.amount
        if not delta:
            return
        now = self.clock()
        windows = self._windows
        found = windows.get(reservation.key)
        if found is not None:
            width = found.width
            entries = found.entries
            if not entries or entries[0][0] <= now / width - self.slots or found.total < 0:
                found.expire(now / width - self.slots)
            entry = found.by_slot.get(ceil(reservation.ref / width))
            if entry is not None:  # ``Window.correct``, in place
                old = entry[1]
                new = old + delta
                if new < 0.0:
                    new = 0.0
                found.total += new - old
                entry[1] = new
                return
        if delta > 0:
            if found is None:
                found = windows[reservation.key] = Window(reservation.window / self.slots)
            found.add(ceil(now / found.width), delta)

    def _sweep(self, now: float) -> None:
        slots = self.slots
        for key in [k for k, w in self._windows.items() if not w.entries or w.entries[-1][0] <= now / w.width - slots]:
            del self._windows[key]
