"""Figures kept between scrapes: plain additions on the request path, handed to
their ``prometheus_client`` series in one go when a scrape (or, with several
processes, the flush timer) asks.

Why not call ``inc`` / ``observe`` per request: ``prometheus_client`` takes a
lock on every update, and in multiprocess mode also writes to a memory-mapped
file — measured here at 1 µs per counter increment, 2 µs per histogram
observation, and 8 µs per observation in multiprocess mode, a dozen of them per
request. A tally costs an addition (a histogram: an append; see ``HistogramTally``).
The gateway's figures are all updated and flushed on its one event loop, so
an addition and a flush never interleave.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from time import perf_counter
from typing import Any


class CounterTally:
    """What one counter series has gained since the last flush. The series is
    made at the first flush with something to add: nothing is exported for a
    combination of labels that never happened."""

    __slots__ = ("family", "labels", "child", "pending")

    def __init__(self, family: Any, labels: tuple[str, ...]) -> None:
        self.family = family
        self.labels = labels
        self.child: Any = None
        self.pending = 0.0

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0.0
            if self.child is None:
                self.child = self.family.labels(*self.labels)
            self.child.inc(amount)


class HistogramTally:
    """Observations of one histogram series since the last flush.

    An observation is appended to ``values`` (an ``array`` of doubles: eight
    bytes each); they are sorted and counted per bucket in one go (``fold``) —
    at a flush, or when ``FOLD_AT`` are waiting — which costs a bisection per
    bucket instead of one per observation. Buckets follow Prometheus' ``le``:
    a value lands in the first bucket whose bound is >= it, the last one being
    ``+Inf``. The series is made at the first flush with observations."""

    __slots__ = ("family", "labels", "bounds", "values", "counts", "total", "_buckets", "_sum")

    #: Observations kept before they are folded into bucket counts (the buffer's bound).
    FOLD_AT = 1024

    def __init__(self, family: Any, labels: tuple[str, ...], bounds: Sequence[float]) -> None:
        self.family = family
        self.labels = labels
        self.bounds = tuple(float(b) for b in bounds)
        self.values = array("d")
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self._buckets: list[Any] = []
        self._sum: Any = None

    def observe(self, value: float) -> None:
        values = self.values
        values.append(value)
        if len(values) >= self.FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Count the waiting observations into their buckets."""
        values = sorted(self.values)
        del self.values[:]
        counts = self.counts
        below = 0
        for i, bound in enumerate(self.bounds):
            upto = bisect_right(values, bound)
            counts[i] += upto - below
            below = upto
        counts[-1] += len(values) - below
        self.total += sum(values)

    def flush(self) -> None:
        if self.values:
            self.fold()
        counts = self.counts
        if not any(counts):
            return
        if self._sum is None:
            self._buckets, self._sum = parts(self.family.labels(*self.labels), len(counts))
        self.counts = [0] * len(counts)
        total, self.total = self.total, 0.0
        for bucket, count in zip(self._buckets, counts):
            if count:
                bucket.inc(count)
        self._sum.inc(total)


class Gaps:
    """The time between consecutive events of one stream, observed into a histogram tally
    (``tick`` at each event: the first only starts the clock)."""

    __slots__ = ("tally", "last")

    def __init__(self, tally: HistogramTally) -> None:
        self.tally = tally
        self.last = 0.0

    def tick(self) -> None:
        now = perf_counter()
        if self.last:
            self.tally.observe(now - self.last)
        self.last = now


def parts(child: Any, buckets: int) -> tuple[list[Any], Any]:
    """The bucket and sum values of a ``prometheus_client`` histogram series.

    ``Histogram`` has no public way to add many observations at once, so a
    flush adds to the per-bucket values the library keeps (non-cumulative; it
    accumulates them when collecting) and to its sum. ``Families`` checks this
    at start-up: a library that no longer keeps them fails with this message,
    not with wrong figures (``tests/observe/test_metrics.py`` also compares the
    exposition with what was observed)."""
    found = getattr(child, "_buckets", None), getattr(child, "_sum", None)
    if not isinstance(found[0], list) or len(found[0]) != buckets or not hasattr(found[1], "inc"):
        raise RuntimeError("prometheus_client's Histogram no longer keeps _buckets/_sum as this gateway expects; "
                           "pin prometheus-client to a version the metrics tests pass with")
    return found[0], found[1]
