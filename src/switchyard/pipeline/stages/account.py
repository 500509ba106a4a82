"""account: what the answer cost, recorded on the call.

Sits right inside auth, so it sees every answer the caller gets — served by a
provider or, later, by the cache — and the failures too. Today it records the
usage on ``call.usage`` (read by the access log and the admin views); spend,
audit and metrics hang off the same place in later stages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from switchyard.core.call import Call
from switchyard.core.stage import Streaming, Unary


class Account:
    """Records the answer's usage on the call (a stream's when its usage chunk passes)."""

    async def unary(self, call: Call, next: Unary) -> Any:
        answer = await next(call)
        call.usage = answer.usage
        return answer

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        return _Counted(await next(call), call)


class _Counted:
    """The chunks, unchanged; the last usage seen lands on the call."""

    __slots__ = ("_chunks", "_call")

    def __init__(self, chunks: AsyncIterator[Any], call: Call) -> None:
        self._chunks = chunks
        self._call = call

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> Any:
        chunk = await self._chunks.__anext__()
        if chunk.usage is not None:
            self._call.usage = chunk.usage
        return chunk

    async def aclose(self) -> None:
        await self._chunks.aclose()  # type: ignore[attr-defined]
