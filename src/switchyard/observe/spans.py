"""What the request path records for tracing: plain values in small slots, nothing else.

Two stages, present only when ``tracing:`` is configured:

- ``Traced``, a request stage right after auth: opens the call's ``TraceRecord``
  (its trace id — the client's, from a valid ``traceparent``, else a new one —
  the server span's id and start) and, when the call settles, hands it to
  ``Tracing.settled``, which notes what the call learned (usage, error, alias,
  deployment) and offers the record to the exporter's bounded buffer (full: the
  record is dropped and counted, the call never waits).
- ``TracedAttempt``, a policy of each deployment's chain, inside the retries and
  the breaker (so each retry is its own attempt, and a call the breaker refused
  is none): notes one ``AttemptRecord`` per upstream try — a new span id, sent
  upstream as the parent in ``traceparent`` (``call.outbound_headers``), its
  start, a stream's first chunk, its end, usage and error type. A refusal of the
  gateway's own (a full connection pool) never went upstream: no attempt.

No OpenTelemetry object is made here, and values from upstream answers are kept
as they came (``observe/span_encoding.py`` checks their types): the request path
pays for a few attribute stores, three random numbers and a header string per try.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from random import getrandbits
from time import perf_counter_ns
from typing import Any

from switchyard.core.call import Call, Kind
from switchyard.core.errors import SwitchyardError
from switchyard.core.stage import Streaming, Unary
from switchyard.observe import traceparent

_MASK64 = (1 << 64) - 1
#: ``gen_ai.operation.name`` by ``TraceRecord.op`` (an index: cheaper than an enum's hash).
OPERATION_NAMES = ("chat", "embeddings", "text_completion")
CHAT, EMBED = Kind.CHAT, Kind.EMBED


def operation_index(kind: Kind) -> int:
    return 0 if kind is CHAT else (1 if kind is EMBED else 2)


class AttemptRecord:
    """One upstream try: its site (the deployment's span constants), span id and times
    (``perf_counter_ns``; ``opened``: a stream's first chunk; ``end`` 0 while a stream
    runs), and what came back (``model``, ``response_id``, ``finish``: as the answer
    said, unchecked)."""

    __slots__ = ("site", "span_id", "start", "opened", "end", "error", "code", "usage", "model", "response_id",
                 "finish", "output")

    def __init__(self, site: Any, span_id: bytes, start: int) -> None:
        self.site = site
        self.span_id = span_id
        self.start = start
        self.opened = 0
        self.end = 0
        self.error: str | None = None
        self.code: str | None = None
        self.usage: Any = None
        self.model: Any = None
        self.response_id: Any = None
        self.finish: Any = None
        self.output: str | None = None

    def failed(self, exc: BaseException) -> None:
        self.end = perf_counter_ns()
        self.error = error_type(exc)
        self.code = getattr(exc, "code", None)


class TraceRecord:
    """One call as tracing sees it (see the module docstring). Ids are bytes, as OTLP
    carries them (16 for the trace, 8 for a span; ``parent_id`` empty for a root); the
    fields after ``header`` are filled in when the call settles (``Tracing.settled``)."""

    __slots__ = ("trace_id", "parent_id", "span_id", "sampled", "start", "attempts", "header", "end", "op",
                 "stream", "requested", "alias", "deployment", "request_id", "usage", "cost", "error", "code",
                 "status", "max_tokens", "temperature", "top_p", "input")

    def __init__(self, trace_id: bytes, parent_id: bytes, sampled: bool, start: int) -> None:
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.span_id = (getrandbits(64) or 1).to_bytes(8, "big")
        self.sampled = sampled
        self.start = start
        self.attempts: list[AttemptRecord] = []
        #: The outgoing ``traceparent`` without its span id: ``00-<trace id>-`` and ``-<flags>``.
        self.header = ("00-" + trace_id.hex() + "-", "-01" if sampled else "-00")
        self.end = 0
        self.op = 0
        self.stream = False
        self.requested: str | None = None
        self.alias: str | None = None
        self.deployment: str | None = None
        self.request_id = ""
        self.usage: Any = None
        self.cost: float | None = None
        self.error: str | None = None
        self.code: str | None = None
        self.status = 200
        self.max_tokens: Any = None
        self.temperature: Any = None
        self.top_p: Any = None
        self.input: str | None = None


def error_type(exc: BaseException) -> str:
    """``error.type``: the gateway's error class (``UpstreamTimeout``...), as the metrics name it."""
    if isinstance(exc, SwitchyardError):
        return type(exc).__name__
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "_OTHER"


class Traced:
    """Request stage: opens the call's trace record, and hands it on when the call settles."""

    __slots__ = ("tracing", "_bound", "_settle")

    def __init__(self, tracing: Any) -> None:
        self.tracing = tracing
        #: Trace ids whose low 64 bits fall under this are kept (OpenTelemetry's TraceIdRatioBased).
        self._bound = round(tracing.settings.sample_ratio * (1 << 64))
        self._settle = tracing.settled  # bound once, not per call

    def _open(self, call: Call) -> None:
        header = call.headers.get("traceparent") if call.headers else None
        parent = traceparent.parse(header) if header is not None else None
        if parent is None:
            trace_id = getrandbits(128) or 1
            call.trace = TraceRecord(trace_id.to_bytes(16, "big"), b"", (trace_id & _MASK64) < self._bound,
                                     perf_counter_ns())
        else:
            call.trace = TraceRecord(parent[0], parent[1], bool(parent[2] & traceparent.SAMPLED), perf_counter_ns())
        call.on_settle(self._settle)

    async def unary(self, call: Call, next: Unary) -> Any:
        self._open(call)
        return await next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        self._open(call)
        return await next(call)


class TracedAttempt:
    """Deployment policy: one ``AttemptRecord`` per upstream try (see the module docstring)."""

    __slots__ = ("site", "capture")

    def __init__(self, site: Any, capture: Callable[[Any], str | None] | None = None) -> None:
        self.site = site
        #: With ``capture_content``: the answer's text, cut to the configured length.
        self.capture = capture

    async def unary(self, call: Call, next: Unary) -> Any:
        record: TraceRecord | None = call.trace
        if record is None:  # a call that did not come through the pipeline's tracing stage
            return await next(call)
        span_id = (getrandbits(64) or 1).to_bytes(8, "big")
        attempt = AttemptRecord(self.site, span_id, perf_counter_ns())
        head, flags = record.header
        call.outbound_headers = {"traceparent": head + span_id.hex() + flags}
        try:
            answer = await next(call)
        except BaseException as exc:
            if not (isinstance(exc, SwitchyardError) and exc.local):  # a local refusal never went upstream
                attempt.failed(exc)
                record.attempts.append(attempt)
            raise
        finally:
            call.outbound_headers = None
        attempt.end = perf_counter_ns()
        attempt.usage = answer.usage
        body = getattr(answer, "body", None)
        if body:
            get = body.get
            attempt.model = get("model")
            attempt.response_id = get("id")
            try:
                attempt.finish = body["choices"][0]["finish_reason"]
            except (LookupError, TypeError):
                pass
        if self.capture is not None:
            attempt.output = self.capture(answer)
        record.attempts.append(attempt)
        return answer

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        record: TraceRecord | None = call.trace
        if record is None:
            return await next(call)
        span_id = (getrandbits(64) or 1).to_bytes(8, "big")
        attempt = AttemptRecord(self.site, span_id, perf_counter_ns())
        head, flags = record.header
        call.outbound_headers = {"traceparent": head + span_id.hex() + flags}
        try:
            chunks = await next(call)  # the policies inside hand back a primed stream: its first chunk is here
        except BaseException as exc:
            if not (isinstance(exc, SwitchyardError) and exc.local):
                attempt.failed(exc)
                record.attempts.append(attempt)
            raise
        finally:
            call.outbound_headers = None
        attempt.opened = perf_counter_ns()
        record.attempts.append(attempt)  # its end, usage and error come when the call settles
        if self.capture is not None:
            return Recorded(chunks, attempt, self.capture)
        return chunks


class Recorded:
    """A stream whose answer text is kept (cut to the capture's length) on its attempt:
    only with ``capture_content``, so an ordinary stream has no wrapper of its own."""

    __slots__ = ("_chunks", "_attempt", "_capture", "_parts", "_size")

    def __init__(self, chunks: AsyncIterator[Any], attempt: AttemptRecord, capture: Any) -> None:
        self._chunks = chunks
        self._attempt = attempt
        self._capture = capture
        self._parts: list[str] = []
        self._size = 0

    def __aiter__(self) -> Recorded:
        return self

    async def __anext__(self) -> Any:
        chunk = await self._chunks.__anext__()
        if self._size < self._capture.limit and (chunk.data is not None or chunk.raw is not None):
            text = chunk.text
            if text:
                self._parts.append(text)
                self._size += len(text)
        return chunk

    async def aclose(self) -> None:
        try:
            await self._chunks.aclose()  # type: ignore[attr-defined]
        finally:
            if self._parts:
                self._attempt.output = "".join(self._parts)[:self._capture.limit]
