"""A rolling window of good and bad events in fixed buckets: bounded memory, O(1) per event.

The window is ``SLOTS`` buckets of ``window / SLOTS`` seconds. An event lands in
the bucket of its instant; the window's totals are kept as running sums — a
bucket that falls out of the window is subtracted when the clock passes it —
so recording and reading the totals cost the same whatever the traffic. An
event leaves the window at most one bucket (a thirtieth of the window) late.

For a latency objective each bucket also counts its samples in logarithmic
bins (10% apart, 1 ms to 20 min), from which ``percentile`` reads an estimate
for display; whether the objective holds is decided on the exact count of
samples over the threshold, not on the estimate.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left

SLOTS = 30
#: Upper bounds of the latency bins, seconds: 1 ms * 1.1^k up to 20 minutes, then +Inf.
BINS = tuple(0.001 * 1.1 ** k for k in range(int(math.log(1200 / 0.001, 1.1)) + 2))


class RollingWindow:
    """Counts of events (and bad ones) over the last ``seconds``; with ``bins``, a
    latency histogram per bucket too."""

    __slots__ = ("span", "tick", "totals", "bads", "total", "bad", "bins")

    def __init__(self, seconds: float, *, bins: bool = False) -> None:
        self.span = seconds / SLOTS
        self.tick = -1
        self.totals = array("q", bytes(8 * SLOTS))
        self.bads = array("q", bytes(8 * SLOTS))
        self.total = 0
        self.bad = 0
        self.bins: list[array[int]] | None = ([array("q", bytes(8 * (len(BINS) + 1))) for _ in range(SLOTS)]
                                             if bins else None)

    def advance(self, now: float) -> None:
        """Move the window to ``now``: buckets older than the window leave its totals."""
        tick = int(now / self.span)
        last = self.tick
        if tick <= last:
            return
        if last < 0 or tick - last >= SLOTS:
            for slot in range(SLOTS):
                self._clear(slot)
            self.total = self.bad = 0
        else:
            for passed in range(last + 1, tick + 1):
                self._clear(passed % SLOTS)
        self.tick = tick

    def _clear(self, slot: int) -> None:
        self.total -= self.totals[slot]
        self.bad -= self.bads[slot]
        self.totals[slot] = 0
        self.bads[slot] = 0
        if self.bins is not None:
            bins = self.bins[slot]
            for i in range(len(bins)):
                bins[i] = 0

    def add(self, now: float, bad: bool, value: float | None = None) -> None:
        """One event at ``now`` (``value``: its latency, for a window with bins)."""
        if int(now / self.span) != self.tick:
            self.advance(now)
        slot = self.tick % SLOTS
        self.totals[slot] += 1
        self.total += 1
        if bad:
            self.bads[slot] += 1
            self.bad += 1
        if value is not None and self.bins is not None:
            self.bins[slot][bisect_left(BINS, value)] += 1

    def percentile(self, share: float) -> float | None:
        """The latency under which ``share`` of the window's samples fall (a bin's upper
        bound; ``inf`` past the last), or None without samples."""
        if self.bins is None:
            return None
        merged = [sum(column) for column in zip(*self.bins)]
        count = sum(merged)
        if not count:
            return None
        rank = share * count
        seen = 0
        for i, n in enumerate(merged):
            seen += n
            if seen >= rank:
                return BINS[i] if i < len(BINS) else math.inf
        return math.inf
