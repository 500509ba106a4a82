"""Figures kept between scrapes: plain additions on the request path, handed to
their ``prometheus_client`` series in one go when a scrape (or, with several
processes, the flush timer) asks.

Why not call ``inc`` / ``observe`` per request: ``prometheus_client`` takes a
lock on every update, and in multiprocess mode also writes to a memory-mapped
file — measured here at 1 µs per counter increment, 2 µs per histogram
observation, and 8 µs per observation in multiprocess mode, a dozen of them per
request. A tally costs an addition (a histogram: a C bisect and two additions).
The gateway's figures are all updated and flushed on its one event loop, so
an addition and a flush never interleave.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
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
    """Observations of one histogram series since the last flush: a count per
    bucket (``le`` semantics: a value lands in the first bucket whose bound is
    >= it, the last one being ``+Inf``) and their sum. The series is made at the
    first flush with observations."""

    __slots__ = ("family", "labels", "bounds", "counts", "total", "_buckets", "_sum")

    def __init__(self, family: Any, labels: tuple[str, ...], bounds: Sequence[float]) -> None:
        self.family = family
        self.labels = labels
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self._buckets: list[Any] = []
        self._sum: Any = None

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
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
