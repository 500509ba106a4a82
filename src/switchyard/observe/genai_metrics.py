"""The OpenTelemetry GenAI client metrics, aggregated from trace records by the exporter.

==================================================  ======  =========================================
``gen_ai.client.operation.duration``                 s       every upstream try, ``error.type`` on failure
``gen_ai.client.token.usage``                        token   per try that reported usage, by
                                                             ``gen_ai.token.type`` (``input``, ``output``)
``gen_ai.client.operation.time_to_first_chunk``      s       streamed tries, to their first chunk
==================================================  ======  =========================================

Each carries ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.model`` (bounded as the Prometheus labels are: a wildcard's
model only when its provider lists it, else ``other``), ``server.address`` and
``server.port``. Histograms are cumulative, with the conventions' boundaries;
one per attribute set, and the sets are bounded by the config (deployments,
three kinds of call, the gateway's error classes): memory stays flat. A
deployment's series are looked up once, when it is built (``Series``), so a try
costs a bisection and a few additions.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from switchyard.core.config.metrics import GENAI_SECONDS, GENAI_TOKENS
from switchyard.observe import otlp
from switchyard.observe.spans import TraceRecord

DURATION = ("gen_ai.client.operation.duration", "GenAI operation duration.", "s")
TOKENS = ("gen_ai.client.token.usage", "Number of input and output tokens used.", "{token}")
FIRST_CHUNK = ("gen_ai.client.operation.time_to_first_chunk",
               "Time to receive the first chunk, from issuing the request to the first chunk of the stream.", "s")
#: Attribute sets kept per metric at most (a safety net: the config bounds them well below).
MAX_SERIES = 10_000
#: The token histograms' bucket of each count below ``_TABLED`` (the usual counts), looked up
#: rather than bisected.
_TABLED = 4097
_TOKEN_BUCKETS = tuple(bisect_left(GENAI_TOKENS, count) for count in range(_TABLED))

Attributes = tuple[tuple[str, object], ...]


class Histogram:
    """Explicit-bucket histogram: a value lands in the first bucket whose bound is >= it."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value


class Series:
    """The histograms one deployment's tries of one operation write to (errors by type, on demand)."""

    __slots__ = ("attributes", "duration", "first_chunk", "input", "output", "failed", "_metrics")

    def __init__(self, metrics: GenAiMetrics, attributes: Attributes) -> None:
        self.attributes = attributes
        self._metrics = metrics
        self.duration = metrics.histogram(DURATION, attributes, GENAI_SECONDS)
        self.first_chunk = metrics.histogram(FIRST_CHUNK, attributes, GENAI_SECONDS)
        self.input = metrics.histogram(TOKENS, (*attributes, ("gen_ai.token.type", "input")), GENAI_TOKENS)
        self.output = metrics.histogram(TOKENS, (*attributes, ("gen_ai.token.type", "output")), GENAI_TOKENS)
        self.failed: dict[str, Histogram | None] = {}

    def errored(self, error: str) -> Histogram | None:
        if error in self.failed:
            return self.failed[error]
        found = self.failed[error] = self._metrics.histogram(DURATION, (*self.attributes, ("error.type", error)),
                                                             GENAI_SECONDS)
        return found


class GenAiMetrics:
    """Cumulative histograms per attribute set, fed record by record, encoded on demand."""

    def __init__(self, start: int) -> None:
        #: Unix nanoseconds: when the cumulative figures began.
        self.start = start
        self._series: dict[tuple[str, str, str], dict[Attributes, Histogram]] = {DURATION: {}, TOKENS: {},
                                                                                  FIRST_CHUNK: {}}
        self.overflow = 0

    def histogram(self, metric: tuple[str, str, str], attrs: Attributes, bounds: Sequence[float]) -> Histogram | None:
        """The histogram of ``metric`` for ``attrs`` (made on first use; None past ``MAX_SERIES``)."""
        series = self._series[metric]
        found = series.get(attrs)
        if found is None:
            if len(series) >= MAX_SERIES:
                self.overflow += 1
                return None
            found = series[attrs] = Histogram(bounds)
        return found

    def series(self, attributes: Attributes) -> Series:
        return Series(self, attributes)

    @staticmethod
    def add(record: TraceRecord) -> None:
        """Count the upstream tries of one call."""
        op = record.op
        for site, _, start, opened, end, error, _, usage, _, _, _, _ in record.attempts:
            # Histogram.add written out: a call per value is most of the cost here
            series = site.series[op]
            histogram = series.duration if error is None else series.errored(error)
            if histogram is not None:
                value = ((end or record.end) - start) / 1e9
                histogram.counts[bisect_left(histogram.bounds, value)] += 1
                histogram.total += value
            if opened and series.first_chunk is not None:
                histogram = series.first_chunk
                value = (opened - start) / 1e9
                histogram.counts[bisect_left(histogram.bounds, value)] += 1
                histogram.total += value
            if usage is not None:  # input, then output, written out: no pairs made per try
                histogram = series.input
                if histogram is not None:
                    count = usage.prompt_tokens
                    histogram.counts[_TOKEN_BUCKETS[count] if 0 <= count < _TABLED
                                     else bisect_left(histogram.bounds, count)] += 1
                    histogram.total += count
                histogram = series.output
                if histogram is not None:
                    count = usage.completion_tokens
                    histogram.counts[_TOKEN_BUCKETS[count] if 0 <= count < _TABLED
                                     else bisect_left(histogram.bounds, count)] += 1
                    histogram.total += count

    def encode(self, resource: bytes, scope: bytes, now: int) -> bytes | None:
        """An ``ExportMetricsServiceRequest`` of every series that counted something, or None."""
        metrics = []
        for (name, description, unit), series in self._series.items():
            points = [otlp.histogram_point(otlp.attributes(9, attrs), self.start, now, h.counts, h.bounds, h.total)
                      for attrs, h in series.items() if any(h.counts)]
            if points:
                metrics.append(otlp.histogram_metric(name, description, unit, points))
        return otlp.metrics_request(resource, scope, metrics) if metrics else None
