"""Streams whose first chunk has arrived.

``Primed`` is a stream whose first chunk is already here: the timeout policy
pulls it inside its own bounds (first-token timeout, retries, breaker), so a
stream that fails before producing anything is retried or replaced invisibly,
and nothing above reads that chunk a second time.
"""

from __future__ import annotations

from typing import Any

_NOTHING: Any = object()


class Primed:
    """An async iterator of chunks whose first chunk is already here (or that ended empty)."""

    __slots__ = ("_first", "_rest")

    def __init__(self, first: Any, rest: Any) -> None:
        self._first = first
        self._rest = rest

    @classmethod
    def empty(cls, rest: Any) -> Primed:
        return cls(_NOTHING, rest)

    @classmethod
    async def open(cls, chunks: Any) -> Primed:
        """Pull the first chunk of ``chunks`` (closing them when that fails)."""
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            return cls(_NOTHING, chunks)
        except BaseException:
            await chunks.aclose()
            raise
        return cls(first, chunks)

    def __aiter__(self) -> Primed:
        return self

    async def __anext__(self) -> Any:
        first = self._first
        if first is not _NOTHING:
            self._first = _NOTHING
            return first
        return await self._rest.__anext__()

    async def aclose(self) -> None:
        await self._rest.aclose()

