"""The sliding window: at most ``limit`` units in ANY rolling window of the limit's length.

Why it is the default: a user who writes ``rpm: 100`` expects at most 100 in
any minute. GCRA (gcra.py) lets a full bucket pass 100 at once and then one
every 0.6 s, so after an idle spell up to ~2x passes within a minute. The
sliding window never lets the units admitted in the last ``period`` seconds
sum past the limit; room comes back only as old units leave the window.

Representation: a sliding *log*, exact and bounded. Each window is cut into
``slots`` time slots (default 1000: 60 ms for a minute, 86.4 s for a day); a
reservation is stamped with the END of the slot it falls in and leaves the
window when that stamp is ``period`` old. Units therefore leave at most one
slot late, never early: the count is exact (never above the limit), only the
moment room returns is rounded up. A window holds at most ``slots + 1``
entries whatever the traffic, so memory per bucket is bounded without an
overflow rule that could lose units; idle windows are dropped.

Reservations are corrected in place: ``Decision.ref`` is the moment the
reservation was made, which names its slot in every bucket, so a settle
changes that slot's amount — a refund lowers the window's total (never below
zero for the slot), a larger actual usage raises it. If the slot has already
left the window (a stream longer than the period), a refund has nothing left
to return and an extra is counted now. An ``adjust`` without a ``ref`` counts
extras now and drops refunds (it cannot know which units to give back).

"When is there room" (``retry_after``) is when enough of the oldest entries
have left for the cost to fit; the reset header (``fills``) is when the
newest entry leaves, i.e. when the window is empty again.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence

from switchyard.storage.limits.gcra import Bucket, Decision

#: Default number of time slots a window is kept in (``limits.window_slots``).
SLOTS = 1000


class Window:
    """One bucket's log: ``(slot, amount)`` entries oldest first, and their sum."""

    __slots__ = ("width", "entries", "by_slot", "total")

    def __init__(self, width: float) -> None:
        self.width = width  # seconds per slot
        self.entries: deque[list[float]] = deque()
        self.by_slot: dict[int, list[float]] = {}
        self.total = 0.0

    def expire(self, cutoff: float) -> None:
        """Forget entries whose slot is ``<= cutoff`` (they have left the window)."""
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            slot, amount = entries.popleft()
            self.total -= amount
            del self.by_slot[int(slot)]
        if not entries or self.total < 0:  # float residue
            self.total = 0.0

    def add(self, slot: int, amount: float) -> None:
        entry = self.by_slot.get(slot)
        if entry is None:
            last = self.entries[-1][0] if self.entries else slot
            if last > slot:  # never out of order (a coarser clock step): count it with the newest
                entry = self.by_slot[int(last)]
            else:
                entry = [slot, 0.0]
                self.entries.append(entry)
                self.by_slot[slot] = entry
        entry[1] += amount
        self.total += amount

    def correct(self, slot: int, delta: float) -> bool:
        """Change the amount of ``slot`` by ``delta`` (not below zero); False when it left."""
        entry = self.by_slot.get(slot)
        if entry is None:
            return False
        new = max(0.0, entry[1] + delta)
        self.total += new - entry[1]
        entry[1] = new
        return True

    def free_at(self, need: float) -> float | None:
        """The slot at whose leaving at least ``need`` units have left; None if never."""
        freed = 0.0
        for slot, amount in self.entries:
            freed += amount
            if freed >= need - 1e-9:
                return slot
        return None


def check(window: Window | None, bucket: Bucket, cost: float, now: float, slots: int) -> float:
    """The wait before ``cost`` fits now: 0 when it fits, ``inf`` never."""
    total = window.total if window is not None else 0.0
    if cost > bucket.limit:
        return math.inf
    if total + cost <= bucket.limit + 1e-9:
        return 0.0
    width = bucket.period / slots
    oldest = window.free_at(total + cost - bucket.limit) if window is not None else None
    over = (oldest + slots) * width - now if oldest is not None else bucket.period
    return max(over, 1e-6)


def state(window: Window | None, bucket: Bucket, now: float, slots: int) -> tuple[float, float]:
    """``(fill, left)``: seconds until the window is empty (its newest entry leaves), and room left."""
    if window is None or not window.entries:
        return 0.0, float(bucket.limit)
    fill = (window.entries[-1][0] + slots) * window.width - now
    return max(0.0, fill), max(0.0, bucket.limit - window.total)


class SlidingMemoryBackend:
    """Sliding-window logs in this process (the embedded default).

    Bounded: at most ``slots + 1`` entries per bucket; when ``max_keys``
    buckets exist, the empty ones are swept.
    """

    name = "memory"
    algorithm = "sliding_window"

    def __init__(self, clock: Callable[[], float] = time.monotonic, slots: int = SLOTS,
                 max_keys: int = 200_000) -> None:
        self.clock = clock
        self.slots = slots
        self.max_keys = max_keys
        self._windows: dict[str, Window] = {}

    async def acquire(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> Decision:
        return self.acquire_now(buckets, costs)

    def acquire_now(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> Decision:
        """All or nothing: ``costs[i]`` in every bucket ``i``, or nothing anywhere."""
        now = self.clock()
        slots = self.slots
        windows = self._windows
        refused, wait = -1, 0.0
        for i, (bucket, cost) in enumerate(zip(buckets, costs)):
            window = windows.get(bucket.key)
            if window is not None:
                window.expire(now / window.width - slots)
            over = check(window, bucket, cost, now, slots)
            if over > wait:  # the bucket that binds longest is the one to name
                refused, wait = i, over
        if refused < 0:
            if len(windows) >= self.max_keys:
                self._sweep()
            for bucket, cost in zip(buckets, costs):
                window = windows.get(bucket.key)
                if window is None:
                    window = windows[bucket.key] = Window(bucket.period / slots)
                window.add(math.ceil(now / window.width), cost)
        fills: list[float] = []
        left: list[float] = []
        for bucket in buckets:  # what the headers show: the windows as they are now
            fill, room = state(windows.get(bucket.key), bucket, now, slots)
            fills.append(fill)
            left.append(room)
        if refused >= 0:
            return Decision(False, fills, refused, wait, left=left, ref=now)
        return Decision(True, fills, left=left, ref=now)

    async def room_after(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> float | None:
        """Seconds until ``costs`` fit in every bucket (0: now, ``inf``: never); reserves nothing."""
        now = self.clock()
        slots = self.slots
        wait = 0.0
        for bucket, cost in zip(buckets, costs):
            window = self._windows.get(bucket.key)
            if window is not None:
                window.expire(now / window.width - slots)
            wait = max(wait, check(window, bucket, cost, now, slots))
        return wait

    async def adjust(self, buckets: Sequence[Bucket], deltas: Sequence[float], ref: float | None = None) -> None:
        """Correct the reservation made at ``ref`` by ``deltas`` (a refund when negative)."""
        now = self.clock()
        slots = self.slots
        for bucket, delta in zip(buckets, deltas):
            if not delta:
                continue
            width = bucket.period / slots
            window = self._windows.get(bucket.key)
            if window is not None:
                window.expire(now / width - slots)
            if ref is not None and window is not None and window.correct(math.ceil(ref / width), delta):
                continue
            if delta > 0:  # its slot left the window (or unknown): the extra counts now
                if window is None:
                    window = self._windows[bucket.key] = Window(width)
                window.add(math.ceil(now / width), delta)

    def _sweep(self) -> None:
        # A window whose newest entry has left is empty: forgetting it changes nothing.
        now = self.clock()
        slots = self.slots
        for key in [k for k, w in self._windows.items()
                    if not w.entries or w.entries[-1][0] <= now / w.width - slots]:
            del self._windows[key]

    def status(self) -> dict[str, object]:
        return {"backend": "memory", "algorithm": "sliding_window", "state": "ok", "buckets": len(self._windows)}

    async def aclose(self) -> None:
        return None

