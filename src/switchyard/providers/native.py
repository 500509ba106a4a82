"""The HTTP driver for adapters whose upstream speaks its own wire format.

A subclass supplies data and pure functions — URLs, headers, ``parse_error``,
and per request a stream decoder with ``feed(data) -> [Chunk]`` and
``close() -> [Chunk]`` — and gets ``_post`` and ``_open_sse``: the same
shared client, timeouts and stream discipline as the OpenAI driver. A stream
is translated event by event as it arrives, never buffered whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Protocol

import orjson

from switchyard.core.call import Call
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import Chunk
from switchyard.providers.base import Provider
from switchyard.transport.sse import SSEDecoder

ErrorParser = Callable[[int, bytes, Callable[[str], "str | None"]], SwitchyardError]


class StreamTranslator(Protocol):
    def feed(self, data: str) -> list[Chunk]:
        """The chunks for one SSE event's data; raises a core error for an error event."""
        ...

    def close(self) -> list[Chunk]:
        """The chunks after the upstream ended the stream; raises if it ended early."""
        ...


class NativeProvider(Provider):
    """Shared plumbing; subclasses set ``parse_error`` and build URLs and bodies."""

    parse_error: ClassVar[ErrorParser]
    #: An SSE data payload that carries nothing (a ``[DONE]`` sentinel), skipped.
    done_data: ClassVar[str | None] = None

    def _timeout(self, call: Call) -> float:
        timeout = self.deployment.timeouts.request
        remaining = call.remaining()
        return timeout if remaining is None else max(0.001, min(timeout, remaining))

    async def request_headers(self) -> dict[str, str]:
        """Headers of every upstream request (credentials included)."""
        return self.headers  # type: ignore[attr-defined, no-any-return]

    async def _post(self, url: str, body: dict[str, Any], call: Call) -> Any:
        response = await self.http.request(
            "POST", url, headers=await self.request_headers(), body=orjson.dumps(body), timeout=self._timeout(call)
        )
        if response.status >= 300:
            raise type(self).parse_error(response.status, response.content, response.headers.get)
        return response

    async def _open_sse(self, url: str, body: dict[str, Any], call: Call, decoder: StreamTranslator) -> AsyncIterator[Chunk]:
        headers = {**await self.request_headers(), "accept": "text/event-stream"}
        context = self.http.stream("POST", url, headers=headers, body=orjson.dumps(body), timeout=self._timeout(call))
        response = await context.__aenter__()
        try:
            if response.status >= 300:
                raise type(self).parse_error(response.status, await response.aread(), response.headers.get)
        except BaseException as exc:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self._chunks(context, response, decoder)

    async def _chunks(self, context: Any, response: Any, decoder: StreamTranslator) -> AsyncIterator[Chunk]:
        sse = SSEDecoder()
        idle = self.deployment.timeouts.idle
        done = self.done_data
        try:
            async for data in response.aiter_bytes(idle_timeout=idle):
                for event in sse.feed(data):
                    if done is not None and event.data == done:
                        continue
                    for chunk in decoder.feed(event.data):
                        yield chunk
            for chunk in decoder.close():
                yield chunk
        finally:
            await context.__aexit__(None, None, None)
