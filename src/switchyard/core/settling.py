"""One wrapper for every stage that must hear how a stream ended.

``Settling(chunks, settle, observe)`` passes the chunks through unchanged,
keeps the last usage a chunk carried, shows each chunk to ``observe`` (which
may raise to end the stream), and awaits ``settle(usage)`` exactly once: when
the stream is exhausted, fails, or is closed early. Admission tickets, the
deployment capacity gate, the load tracker and the account stage all use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from switchyard.core.messages import Chunk, Usage

Settle = Callable[[Usage | None], Awaitable[None]]


class Settling:
    """The chunks of a stream, settled once at its end; see the module docstring."""

    __slots__ = ("_chunks", "_settle", "_observe", "usage", "_done")

    def __init__(self, chunks: AsyncIterator[Chunk], settle: Settle,
                 observe: Callable[[Chunk], None] | None = None) -> None:
        self._chunks = chunks
        self._settle = settle
        self._observe = observe
        self.usage: Usage | None = None
        self._done = False

    def __aiter__(self) -> Settling:
        return self

    async def __anext__(self) -> Chunk:
        try:
            chunk = await self._chunks.__anext__()
            if chunk.usage is not None:
                self.usage = chunk.usage
            if self._observe is not None:
                self._observe(chunk)
        except BaseException:
            await self.aclose()
            raise
        return chunk

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            await self._chunks.aclose()  # type: ignore[attr-defined]
        finally:
            await self._settle(self.usage)

