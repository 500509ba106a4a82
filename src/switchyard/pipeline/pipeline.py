"""The request pipeline: typed entry points over the folded stages.

``Pipeline.chat`` / ``stream`` / ``embed`` / ``complete`` / ``stream_complete``
fill the call (the request and what kind of answer it wants), set the total
deadline, and run the stages of ``pipeline/order.py`` down to the route stage.
The HTTP server and the in-process ``Client`` both call these.

The answer's way out is the account: whatever answered (a provider, later the
cache), the pipeline records the usage on ``call.usage`` — a stream's when it
ends — prices it at the deployment that answered (``call.cost``; the
``x-switchyard-cost-usd`` header of a unary answer, ``usage.cost_usd`` in a
stream's final usage) and runs the settlers stages registered
(``Call.on_settle``) exactly once, on success, failure or a client that went
away. A stream that ends without the upstream's usage (its client left, it
broke) is charged for its prompt, counted locally, and the output it sent
(``call.estimated``). One wrapper per stream, however many stages want to
hear its end or see its chunks (``Call.on_chunk``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from time import perf_counter
from typing import Any

from switchyard.admission.estimate import Estimator, chunk_tokens
from switchyard.core.call import Call, Kind
from switchyard.core.config.reliability import TimeoutDefaults
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import (
    ChatRequest,
    ChatResponse,
    Chunk,
    CompletionRequest,
    EmbeddingRequest,
    EmbeddingResponse,
    RerankRequest,
    RerankResponse,
    Usage,
)
from switchyard.core.stage import Stage, Streaming, Unary, fold
from switchyard.pipeline.stages.authenticate import Authenticate
from switchyard.pipeline.stages.route import Route
from switchyard.policies.primed import NOTHING, Primed
from switchyard.policies.timeout import apply_deadline
from switchyard.pricing.sheet import COST_HEADER, usd


class Pipeline:
    """The stages folded once over the route stage; one per gateway."""

    def __init__(self, stages: Sequence[Stage], route: Route, timeouts: TimeoutDefaults,
                 estimator: Estimator | None = None) -> None:
        self.stages: tuple[Stage, ...] = tuple(stages)
        self.route = route
        self.timeouts = timeouts
        #: Counts a prompt when a stream ends without the upstream's usage (None: not charged).
        self.estimator = estimator
        self._unary: Unary
        self._stream: Streaming
        self._unary, self._stream = fold(self.stages, route.unary, route.stream)
        # A caller the server already identified (it authenticates before reading a
        # body) enters after the auth stage: one frame less per request.
        self._unary_known, self._stream_known = self._unary, self._stream
        if self.stages and isinstance(self.stages[0], Authenticate):
            self._unary_known, self._stream_known = fold(self.stages[1:], route.unary, route.stream)

    async def _run(self, call: Call) -> Any:
        call.started = perf_counter()
        apply_deadline(call, self.timeouts)
        try:
            answer = await (self._unary if call.caller is None else self._unary_known)(call)
        except BaseException as exc:
            await _failed(call, exc)
            raise
        usage = call.usage = answer.usage
        deployment = call.deployment
        if deployment is not None and usage is not None:
            cost = call.cost = deployment.price.cost(usage)
            call.response_headers[COST_HEADER] = usd(cost)
        if call.settlers is not None:
            pending = call.settle_now()
            if pending is not None:
                await pending
        return answer

    async def _open(self, call: Call) -> AsyncIterator[Chunk]:
        call.started = perf_counter()
        apply_deadline(call, self.timeouts)
        try:
            chunks = await (self._stream if call.caller is None else self._stream_known)(call)
        except BaseException as exc:
            await _failed(call, exc)
            raise
        call.first_chunk = perf_counter()
        return Served(chunks, call, self.estimator)

    # The entry points are plain functions handing back ``_run``/``_open``'s coroutine
    # (awaited by the caller as if they were ``async def``): one frame less per request.
    def chat(self, request: ChatRequest, call: Call) -> Awaitable[ChatResponse]:
        call.request, call.kind, call.stream = request, Kind.CHAT, False
        return self._run(call)

    def stream(self, request: ChatRequest, call: Call) -> Awaitable[AsyncIterator[Chunk]]:
        """Opens the stream: the awaitable returns once its first chunk has arrived (or it failed)."""
        call.request, call.kind, call.stream = request, Kind.CHAT, True
        return self._open(call)

    def embed(self, request: EmbeddingRequest, call: Call) -> Awaitable[EmbeddingResponse]:
        call.request, call.kind, call.stream = request, Kind.EMBED, False
        return self._run(call)

    def rerank(self, request: RerankRequest, call: Call) -> Awaitable[RerankResponse]:
        call.request, call.kind, call.stream = request, Kind.RERANK, False
        return self._run(call)

    def complete(self, request: CompletionRequest, call: Call) -> Awaitable[ChatResponse]:
        call.request, call.kind, call.stream = request, Kind.COMPLETE, False
        return self._run(call)

    def stream_complete(self, request: CompletionRequest, call: Call) -> Awaitable[AsyncIterator[Chunk]]:
        call.request, call.kind, call.stream = request, Kind.COMPLETE, True
        return self._open(call)


class Served:
    """A stream on its way out of the pipeline: passes the chunks through, counts
    their output (``call.streamed``), shows each to the call's watchers, prices the
    final usage, and at its end — exhausted, failed, or closed early by its client —
    records usage, cost and error on the call and runs its settlers once.

    A ``Primed`` stream (the deployment's, when no stage wrapped it) is taken apart:
    its first chunk, the rest and its ``failed`` are read here, one async hop less
    per chunk."""

    __slots__ = ("_first", "_rest", "_failed", "_call", "_usage", "_done", "_estimator", "_push", "_sink")

    def __init__(self, chunks: AsyncIterator[Chunk], call: Call, estimator: Estimator | None = None) -> None:
        if type(chunks) is Primed:
            self._first, self._rest, self._failed = chunks.parts()
        else:
            self._first, self._rest, self._failed = NOTHING, chunks, None
        self._call = call
        self._usage: Usage | None = None
        self._done = False
        self._estimator = estimator
        #: The deployment's stream pushes its chunks (``UpstreamChunks.push``): ``relay`` can be used.
        self._push: Callable[[Callable[[Chunk], bool]], Awaitable[bool]] | None = getattr(self._rest, "push", None)
        self._sink: Callable[[Chunk], bool] | None = None

    def __aiter__(self) -> Served:
        return self

    @property
    def pushes(self) -> bool:
        """Whether ``relay`` can hand the chunks on as they come (else: iterate)."""
        return self._push is not None

    def _account(self, chunk: Chunk) -> None:
        """One chunk's part: its usage (priced), its output counted, the watchers shown."""
        call = self._call
        usage = chunk.usage
        if usage is not None:
            self._usage = usage
            if chunk.data is not None or chunk.raw is not None:
                _price_usage_chunk(chunk, usage, call)
        call.streamed += chunk_tokens(chunk)
        watchers = call.watchers
        if watchers is not None:
            for watch in watchers:
                watch(call)

    def _pass(self, chunk: Chunk) -> bool:
        self._account(chunk)
        return self._sink(chunk)  # type: ignore[misc]

    async def relay(self, sink: Callable[[Chunk], bool]) -> bool:
        """What iterating does, pushed (``pushes`` only): each chunk accounted and handed to
        ``sink`` as the upstream's bytes are decoded, in their protocol callback, no task woken
        per chunk. True when ``sink`` asked to hold (returned False: relay again once ready),
        False at the end; raises as ``__anext__`` would, and ends the stream the same way."""
        try:
            first = self._first
            if first is not NOTHING:
                self._first = NOTHING
                self._account(first)
                if not sink(first):
                    return True
            self._sink = sink
            return await self._push(self._pass)  # type: ignore[misc]
        except StopAsyncIteration:
            await self.aclose()
            return False
        except BaseException as exc:
            error = await self._ended_by(exc)
            if error is exc:
                raise
            raise error from None

    async def __anext__(self) -> Chunk:
        try:
            chunk = self._first
            if chunk is NOTHING:
                chunk = await self._rest.__anext__()
            else:
                self._first = NOTHING
            self._account(chunk)
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException as exc:
            error = await self._ended_by(exc)
            if error is exc:
                raise
            raise error from None
        return chunk  # type: ignore[no-any-return]

    async def _ended_by(self, exc: BaseException) -> BaseException:
        """The stream failed with ``exc``: what to raise instead (a ``SwitchyardError`` through
        the deployment's ``failed``, which strips its secrets), recorded on the call, the stream closed."""
        error = exc
        if isinstance(exc, SwitchyardError):
            failed = self._failed
            if failed is not None:
                error = failed(exc)
        self._call.error = error
        await self.aclose()
        return error

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        call = self._call
        try:
            await self._rest.aclose()
        finally:
            usage = self._usage
            if usage is None:  # a stage that read the stream's end for this client left it (a shared stream)
                usage = call.usage
            if usage is None and call.streamed and self._estimator is not None:
                usage = Usage(prompt_tokens=self._estimator.prompt(call.request), completion_tokens=call.streamed)
                call.estimated = True
            call.usage = usage
            deployment = call.deployment
            if call.cost is None and usage is not None and deployment is not None:
                call.cost = deployment.price.cost(usage)
            if call.settlers is not None:
                await call.settle()


async def _failed(call: Call, exc: BaseException) -> None:
    """A call that ended in ``exc`` before any answer: its error keeps the headers the
    stages set, the call records how it failed, and its settlers run."""
    if isinstance(exc, SwitchyardError):
        _carry_headers(exc, call)
    call.error = exc
    if call.settlers is not None:
        await call.settle()


def _price_usage_chunk(chunk: Chunk, usage: Usage, call: Call) -> None:
    """The stream's final usage, as the client sees it, carries the cost (``usage.cost_usd``)."""
    deployment = call.deployment
    if deployment is None:
        return
    cost = call.cost = deployment.price.cost(usage)
    shown = chunk.json().get("usage")
    if isinstance(shown, dict):
        shown["cost_usd"] = round(cost, 10)
        chunk.raw = None  # written from ``data`` now


def _carry_headers(exc: SwitchyardError, call: Call) -> None:
    """An error answer keeps the headers the stages set (rate-limit state)."""
    if call.response_headers:
        for name, value in call.response_headers.items():
            exc.headers.setdefault(name, value)
