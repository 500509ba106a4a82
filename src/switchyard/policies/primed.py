"""Streams whose first chunk has arrived.

``Primed`` is a stream whose first chunk is already here: the timeout policy
pulls it inside its own bounds (first-token timeout, retries, breaker), so a
stream that fails before producing anything is retried or replaced invisibly,
and nothing above reads that chunk a second time.

An error after the first chunk can no longer be retried or replaced; it goes
to the stream's client as its error event. ``failed`` (given by the
deployment) sees it on the way: it records it against the deployment's health
and blanks the deployment's secrets out of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from switchyard.core.errors import SwitchyardError

#: What a deployment does with an error after its stream's first chunk: returns it to raise.
StreamFailed = Callable[[SwitchyardError], SwitchyardError]

#: "No first chunk held" (also ``Served``'s, which takes a ``Primed`` apart).
NOTHING: Any = object()


class Primed:
    """An async iterator of chunks whose first chunk is already here (or that ended empty)."""

    __slots__ = ("_first", "_rest", "_failed")

    def __init__(self, first: Any, rest: Any, failed: StreamFailed | None = None) -> None:
        self._first = first
        self._rest = rest
        self._failed = failed

    @classmethod
    def empty(cls, rest: Any) -> Primed:
        return cls(NOTHING, rest)

    @classmethod
    async def open(cls, chunks: Any, failed: StreamFailed | None = None) -> Primed:
        """Pull the first chunk of ``chunks`` (closing them when that fails)."""
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            return cls(NOTHING, chunks, failed)
        except BaseException:
            await chunks.aclose()
            raise
        return cls(first, chunks, failed)

    def parts(self) -> tuple[Any, Any, StreamFailed | None]:
        """``(first, rest, failed)``, for a reader that does this one's work itself (``Served``)."""
        return self._first, self._rest, self._failed

    def __aiter__(self) -> Primed:
        return self

    async def __anext__(self) -> Any:
        first = self._first
        if first is not NOTHING:
            self._first = NOTHING
            return first
        try:
            return await self._rest.__anext__()
        except SwitchyardError as exc:
            if self._failed is None:
                raise
            raise self._failed(exc) from None

    async def aclose(self) -> None:
        await self._rest.aclose()

