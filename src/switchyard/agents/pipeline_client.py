"""The gateway's pipeline as one authenticated caller, with the face an agent calls
(``stream`` and ``chat``, as ``switchyard.AsyncClient``'s).

The HTTP route runs an agent for the key that asked: every model call of the run is that
key's — its model allowlist, limits, budgets and spend records apply, as if it had made
the calls itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from switchyard.core.call import Call
from switchyard.core.messages import ChatResponse, Chunk, validate_chat


class PipelineClient:
    """``stream`` and ``chat`` through ``services.pipeline`` as ``caller``."""

    def __init__(self, services: Any, caller: Any, request_ids: Callable[[], str]) -> None:
        self.services = services
        self.caller = caller
        self.request_ids = request_ids

    def _call(self, headers: Mapping[str, str] | None) -> Call:
        return Call(self.request_ids(), caller=self.caller, headers={k.lower(): v for k, v in (headers or {}).items()})

    async def chat(self, *, model: str, messages: list[dict[str, Any]], headers: Mapping[str, str] | None = None,
                   **params: Any) -> ChatResponse:
        params.pop("stream", None)
        request = validate_chat({"model": model, "messages": messages, **params})
        answer: ChatResponse = await self.services.pipeline.chat(request, self._call(headers))
        return answer

    async def stream(self, *, model: str, messages: list[dict[str, Any]], headers: Mapping[str, str] | None = None,
                     **params: Any) -> AsyncIterator[Chunk]:
        request = validate_chat({"model": model, "messages": messages, **params, "stream": True})
        chunks = await self.services.pipeline.stream(request, self._call(headers))
        try:
            async for chunk in chunks:
                if chunk.data is not None or chunk.raw is not None:
                    yield chunk
        finally:
            await chunks.aclose()
