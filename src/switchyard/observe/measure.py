"""The two stages that feed ``Metrics`` (``observe/metrics.py``), both present
only when metrics are on.

``Measure`` comes right after auth, before any other stage: it counts the
call in flight and registers ``Metrics.settled`` (a plain function: no
coroutine per call) to run last of the settlers, once the answer is complete —
the call's cost, priced on the pipeline's way out, and whatever the inner
stages' settlers recorded (a cache's result, coalescing) are on it by then. A
non-streaming call passes through it without a frame of its own; a stream
also reports its opening (time to first token).

``Metered`` is the outermost policy of each deployment's chain (around the
retries), bound to that deployment's series when it is built: one try of a
deployment, retries included, is one upstream operation. It adds the time to
``call.upstream_seconds`` (the gateway's overhead is what is left) and notes
when the try that answered began (a stream's operation ends when it does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from time import perf_counter
from typing import Any

from switchyard.core.call import Call, Kind
from switchyard.core.stage import Streaming, Unary
from switchyard.observe.meters import DeploymentMeters
from switchyard.observe.metrics import Metrics
from switchyard.observe.tally import HistogramTally

CHAT = Kind.CHAT
FOLD_AT = HistogramTally.FOLD_AT


class Measure:
    """Request stage: the call's figures, counted when it settles."""

    __slots__ = ("metrics", "_settle")

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._settle = metrics.settled  # bound once, not per call

    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        self.metrics.in_flight += 1
        call.on_settle(self._settle, last=True)
        return next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        metrics = self.metrics
        metrics.in_flight += 1
        try:
            chunks = await next(call)
        except BaseException:
            call.on_settle(self._settle, last=True)
            raise
        metrics.opened(call)
        call.on_settle(self._settle, last=True)
        return chunks


class Metered:
    """Deployment policy: the upstream operation's duration, first chunk and failures."""

    __slots__ = ("meters",)

    def __init__(self, meters: DeploymentMeters) -> None:
        self.meters = meters

    async def unary(self, call: Call, next: Unary) -> Any:
        start = perf_counter()
        try:
            answer = await next(call)
        except BaseException as exc:
            elapsed = perf_counter() - start
            call.upstream_seconds += elapsed
            self.meters.op(call.kind).failed(exc, elapsed)
            raise
        elapsed = perf_counter() - start
        call.upstream_seconds += elapsed
        call.upstream_started = start
        meters = self.meters
        op = meters.chat if call.kind is CHAT else None
        if op is None:
            op = meters.op(call.kind)
        values = op.duration.values  # type: ignore[union-attr]
        values.append(elapsed)
        if len(values) >= FOLD_AT:
            op.duration.fold()  # type: ignore[union-attr]
        return answer

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        start = perf_counter()
        try:
            chunks = await next(call)
        except BaseException as exc:
            elapsed = perf_counter() - start
            call.upstream_seconds += elapsed
            self.meters.op(call.kind).failed(exc, elapsed)
            raise
        elapsed = perf_counter() - start
        call.upstream_seconds += elapsed
        call.upstream_started = start
        self.meters.op(call.kind).ttfc.observe(elapsed)  # type: ignore[union-attr]
        return chunks
