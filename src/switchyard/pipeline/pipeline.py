"""The request pipeline: typed entry points over the folded stages.

``Pipeline.chat`` / ``stream`` / ``embed`` / ``complete`` / ``stream_complete``
fill the call (the request and what kind of answer it wants), set the total
deadline, and run the stages of ``pipeline/order.py`` down to the route stage.
The HTTP server and the in-process ``Client`` both call these.

The answer's way out is the account: whatever answered (a provider, later the
cache), the pipeline records the usage on ``call.usage`` — a stream's when it
ends — and runs the settlers stages registered (``Call.on_settle``) exactly
once, on success, failure or a client that went away. One wrapper per stream,
however many stages want to hear its end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from time import perf_counter
from typing import Any

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
    Usage,
)
from switchyard.core.stage import Stage, Streaming, Unary, fold
from switchyard.pipeline.stages.authenticate import Authenticate
from switchyard.pipeline.stages.route import Route
from switchyard.policies.timeout import apply_deadline


class Pipeline:
    """The stages folded once over the route stage; one per gateway."""

    def __init__(self, stages: Sequence[Stage], route: Route, timeouts: TimeoutDefaults) -> None:
        self.stages: tuple[Stage, ...] = tuple(stages)
        self.route = route
        self.timeouts = timeouts
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
        call.usage = answer.usage
        if call.settlers:
            await call.settle()
        return answer

    async def _open(self, call: Call) -> AsyncIterator[Chunk]:
        call.started = perf_counter()
        apply_deadline(call, self.timeouts)
        try:
            chunks = await (self._stream if call.caller is None else self._stream_known)(call)
        except BaseException as exc:
            await _failed(call, exc)
            raise
        return Served(chunks, call)

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        call.request, call.kind, call.stream = request, Kind.CHAT, False
        return await self._run(call)  # type: ignore[no-any-return]

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        """Opens the stream: returns once its first chunk has arrived (or it failed)."""
        call.request, call.kind, call.stream = request, Kind.CHAT, True
        return await self._open(call)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        call.request, call.kind, call.stream = request, Kind.EMBED, False
        return await self._run(call)  # type: ignore[no-any-return]

    async def complete(self, request: CompletionRequest, call: Call) -> ChatResponse:
        call.request, call.kind, call.stream = request, Kind.COMPLETE, False
        return await self._run(call)  # type: ignore[no-any-return]

    async def stream_complete(self, request: CompletionRequest, call: Call) -> AsyncIterator[Chunk]:
        call.request, call.kind, call.stream = request, Kind.COMPLETE, True
        return await self._open(call)


class Served:
    """A stream on its way out of the pipeline: passes the chunks through, keeps the
    last usage one carried, and at its end — exhausted, failed, or closed early by
    its client — records usage and error on the call and runs its settlers once."""

    __slots__ = ("_chunks", "_call", "_usage", "_done")

    def __init__(self, chunks: AsyncIterator[Chunk], call: Call) -> None:
        self._chunks = chunks
        self._call = call
        self._usage: Usage | None = None
        self._done = False

    def __aiter__(self) -> Served:
        return self

    async def __anext__(self) -> Chunk:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException as exc:
            self._call.error = exc
            await self.aclose()
            raise
        if chunk.usage is not None:
            self._usage = chunk.usage
        return chunk

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        call = self._call
        try:
            await self._chunks.aclose()  # type: ignore[attr-defined]
        finally:
            call.usage = self._usage
            if call.settlers:
                await call.settle()


async def _failed(call: Call, exc: BaseException) -> None:
    """A call that ended in ``exc`` before any answer: its error keeps the headers the
    stages set, the call records how it failed, and its settlers run."""
    if isinstance(exc, SwitchyardError):
        _carry_headers(exc, call)
    call.error = exc
    if call.settlers:
        await call.settle()


def _carry_headers(exc: SwitchyardError, call: Call) -> None:
    """An error answer keeps the headers the stages set (rate-limit state)."""
    if call.response_headers:
        for name, value in call.response_headers.items():
            exc.headers.setdefault(name, value)
