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
  is none): notes one ``Attempt`` tuple per upstream try — a new span id, sent
  upstream as the parent in ``traceparent`` (``call.outbound_headers``), its
  start, a stream's first chunk, its end, usage and error type. A refusal of the
  gateway's own (a full connection pool) never went upstream: no attempt.

No OpenTelemetry object is made here, and values from upstream answers are kept
as they came (``observe/span_encoding.py`` checks their types): the request path
pays for a few attribute stores, a random number per call and per try, and a header string per try.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from random import getrandbits
from time import perf_counter_ns
from typing import Any

from switchyard.core.call import Call, Kind
from switchyard.core.errors import SwitchyardError
from switchyard.core.stage import Streaming, Unary
from switchyard.observe import traceparent

_MASK64 = (1 << 64) - 1
#: Bits that make both ids of a random 192 nonzero (the lowest of each).
_NONZERO = 1 | 1 << 64
#: ``gen_ai.operation.name`` by ``TraceRecord.op`` (an index: cheaper than an enum's hash).
OPERATION_NAMES = ("chat", "embeddings", "text_completion", "rerank")
CHAT, EMBED = Kind.CHAT, Kind.EMBED


def operation_index(kind: Kind) -> int:
    return 0 if kind is CHAT else (1 if kind is EMBED else (3 if kind is Kind.RERANK else 2))


#: One upstream try, a plain tuple (made in one step on the request path)::
#:
#:     (site, span id, start, opened, end, error, code, usage, model, response id, finish, output)
#:
#: ``site`` is the deployment's span constants (``span_encoding.SpanSite``); times are
#: ``perf_counter_ns`` (``opened``: a stream's first chunk, else 0; ``end`` 0 while a stream
#: runs); ``error`` the error type and ``code`` its code; ``model``, ``response id`` and
#: ``finish`` as the answer said them, unchecked; ``output`` the captured answer text.
Attempt = tuple[Any, Any, int, int, int, Any, Any, Any, Any, Any, Any, Any]


def failed_attempt(site: Any, span_id: bytes, start: int, exc: BaseException) -> Attempt:
    return (site, span_id, start, 0, perf_counter_ns(), error_type(exc), getattr(exc, "code", None),
            None, None, None, None, None)


class TraceRecord:
    """One call as tracing sees it (see the module docstring). Ids are bytes, as OTLP
    carries them (16 for the trace, 8 for a span; ``parent_id`` empty for a root); the
    fields after ``attempts`` are filled in when the call settles (``Tracing.settled``)."""

    __slots__ = ("trace_id", "parent_id", "span_id", "sampled", "start", "attempts", "end", "op",
                 "stream", "requested", "alias", "deployment", "request_id", "usage", "cost", "error", "code",
                 "status", "max_tokens", "temperature", "top_p", "input")

    # Written once, when the call settles (``Tracing.settled``): what a record that is
    # never exported need not hold.
    end: int
    op: int
    stream: bool
    requested: str | None
    alias: str | None
    deployment: str | None
    request_id: str
    usage: Any
    cost: float | None
    error: str | None
    code: str | None
    status: int
    max_tokens: Any
    temperature: Any
    top_p: Any
    input: str | None

    def __init__(self, trace_id: bytes, parent_id: bytes, sampled: bool, start: int,
                 span_id: bytes | None = None) -> None:
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.span_id = span_id if span_id is not None else (getrandbits(64) or 1).to_bytes(8, "big")
        self.sampled = sampled
        self.start = start
        self.attempts: list[Attempt] = []


def error_type(exc: BaseException) -> str:
    """``error.type``: the gateway's error class (``UpstreamTimeout``...), as the metrics name it."""
    if isinstance(exc, SwitchyardError):
        return type(exc).__name__
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "_OTHER"


class Traced:
    """Request stage: opens the call's trace record, and hands it on when the call settles.
    All its work is before the rest of the chain: a plain function, no frame of its own
    while the call runs (``core/stage.py``)."""

    __slots__ = ("tracing", "_bound", "_settle")

    def __init__(self, tracing: Any) -> None:
        self.tracing = tracing
        #: Trace ids whose low 64 bits fall under this are kept (OpenTelemetry's TraceIdRatioBased).
        self._bound = round(tracing.settings.sample_ratio * (1 << 64))
        self._settle = tracing.settled  # bound once, not per call

    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        header = call.headers.get("traceparent")
        parent = traceparent.parse(header) if header is not None else None
        if parent is None:
            # The trace id and the server span's id from one random number: 16 bytes, then 8.
            ids = getrandbits(192)
            if not (ids >> 64 and ids & _MASK64):  # an id of all zeros is invalid (never, in practice)
                ids |= _NONZERO
            raw = ids.to_bytes(24, "big")
            call.trace = TraceRecord(raw[:16], b"", (ids >> 64) & _MASK64 < self._bound, perf_counter_ns(), raw[16:])
        else:
            call.trace = TraceRecord(parent[0], parent[1], bool(parent[2] & traceparent.SAMPLED), perf_counter_ns())
        call.on_settle(self._settle)
        return next(call)

    stream = unary  # the same work, before a stream's chain as before a unary one


class TracedAttempt:
    """Deployment policy: one attempt record per upstream try (see the module docstring)."""

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
        call.outbound_headers = {"traceparent": f"00-{record.trace_id.hex()}-{span_id.hex()}-{'01' if record.sampled else '00'}"}
        start = perf_counter_ns()
        try:
            answer = await next(call)
        except BaseException as exc:
            if not (isinstance(exc, SwitchyardError) and exc.local):  # a local refusal never went upstream
                record.attempts.append(failed_attempt(self.site, span_id, start, exc))
            raise
        finally:
            call.outbound_headers = None
        end = perf_counter_ns()
        model = response_id = finish = None
        body = getattr(answer, "body", None)
        if body:
            model = body.get("model")
            response_id = body.get("id")
            try:
                finish = body["choices"][0]["finish_reason"]
            except (LookupError, TypeError):
                pass
        record.attempts.append((self.site, span_id, start, 0, end, None, None, answer.usage, model, response_id,
                                finish, self.capture(answer) if self.capture is not None else None))
        return answer

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        record: TraceRecord | None = call.trace
        if record is None:
            return await next(call)
        span_id = (getrandbits(64) or 1).to_bytes(8, "big")
        call.outbound_headers = {"traceparent": f"00-{record.trace_id.hex()}-{span_id.hex()}-{'01' if record.sampled else '00'}"}
        start = perf_counter_ns()
        try:
            chunks = await next(call)  # the policies inside hand back a primed stream: its first chunk is here
        except BaseException as exc:
            if not (isinstance(exc, SwitchyardError) and exc.local):
                record.attempts.append(failed_attempt(self.site, span_id, start, exc))
            raise
        finally:
            call.outbound_headers = None
        attempts = record.attempts
        # Its end, usage and error come when the call settles (``Tracing.settled``).
        attempts.append((self.site, span_id, start, perf_counter_ns(), 0, None, None, None, None, None, None, None))
        if self.capture is not None:
            return Recorded(chunks, attempts, len(attempts) - 1, self.capture)
        return chunks


class Recorded:
    """A stream whose answer text is kept (cut to the capture's length) on its attempt:
    only with ``capture_content``, so an ordinary stream has no wrapper of its own."""

    __slots__ = ("_chunks", "_attempts", "_index", "_capture", "_parts", "_size")

    def __init__(self, chunks: AsyncIterator[Any], attempts: list[Attempt], index: int, capture: Any) -> None:
        self._chunks = chunks
        self._attempts = attempts
        self._index = index
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
                attempt = self._attempts[self._index]
                self._attempts[self._index] = (*attempt[:11], "".join(self._parts)[:self._capture.limit])
