"""What a stage is, and the one function that folds stages into a callable.

A stage takes the call and the rest of the chain, ``(call, next) -> answer``,
in two forms: ``unary`` for calls that answer once (chat, embeddings, legacy
completions) and ``stream`` for calls that answer with chunks. A stream's
``next`` is awaited to *open* the stream (the pre-first-byte window, where a
retry or fallback can still take over) and returns the chunks::

    class Stamp:
        async def unary(self, call, next):
            answer = await next(call)
            call.response_headers["x-stamp"] = "1"
            return answer

        async def stream(self, call, next):
            return await next(call)

Request stages (``pipeline/order.py``) and per-deployment policies
(``policies/chain.py``) are both stages, folded by ``fold``: the first stage in
the list is the outermost, the terminal is what the last one calls.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from switchyard.core.call import Call

#: The rest of a unary chain: ``await next(call)`` is the answer.
Unary = Callable[[Call], Awaitable[Any]]
#: The rest of a streaming chain: ``await next(call)`` opens the stream.
Streaming = Callable[[Call], Awaitable[AsyncIterator[Any]]]


class Stage(Protocol):
    """One step of a chain; see the module docstring. Usually ``async def``; a stage
    whose work is all before the rest of the chain may be a plain ``def`` returning
    ``next(call)`` as it is — one frame less per request."""

    def unary(self, call: Call, next: Unary) -> Awaitable[Any]: ...

    def stream(self, call: Call, next: Streaming) -> Awaitable[AsyncIterator[Any]]: ...


def fold(stages: Sequence[Stage], unary: Unary, stream: Streaming) -> tuple[Unary, Streaming]:
    """The chains ``stages[0] -> stages[1] -> ... -> terminal``, unary and streaming.

    Built once (at construction), not per call: each link is a ``partial`` of
    the stage's own method, so a call costs one frame per stage and nothing more.
    """
    for stage in reversed(stages):
        unary = functools.partial(stage.unary, next=unary)
        stream = functools.partial(stage.stream, next=stream)
    return unary, stream
