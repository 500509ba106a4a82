"""The HTTP driver for adapters whose upstream speaks its own wire format.

A subclass supplies data and pure functions — URLs, ``parse_error``, its own
headers (``set_headers``, or ``request_headers`` when they depend on the
request, as a signature or a fresh token does) — and per stream a
``StreamReader`` that turns the upstream's bytes into chunks. It gets
``_post`` and ``_open``: the shared client, timeouts and stream discipline of
the OpenAI driver. A stream is translated as it arrives, never buffered whole;
the chunks of one network read leave with ``more`` set on all but the last,
so the server writes them to the client at once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ClassVar, Protocol

import orjson

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import Chunk
from switchyard.providers.base import Provider
from switchyard.transport.sse import SSEDecoder

ErrorParser = Callable[[int, bytes, Callable[[str], "str | None"]], SwitchyardError]


class StreamReader(Protocol):
    """One upstream stream's bytes -> chunks: the framing (SSE, NDJSON, AWS event
    stream) and the translation. Pure: no network."""

    #: True once the upstream has said its last word: the driver stops reading.
    finished: bool

    def feed(self, data: bytes) -> Iterable[Chunk]:
        """The chunks of one network read; raises a core error for an error event.
        Lazily is best: the chunks before an error still reach the client."""
        ...

    def close(self) -> Iterable[Chunk]:
        """The chunks after the last read; raises if the stream ended early."""
        ...


class EventTranslator(Protocol):
    def feed(self, data: str) -> list[Chunk]:
        """The chunks for one SSE event's data; raises a core error for an error event."""
        ...

    def close(self) -> list[Chunk]:
        """The chunks after the upstream ended the stream; raises if it ended early."""
        ...


class SSEStream:
    """A ``StreamReader`` for SSE whose events translate one ``data`` at a time;
    an event whose data is ``skip`` (a ``[DONE]`` sentinel) carries nothing.
    It reads until the upstream closes the stream."""

    __slots__ = ("translator", "skip", "finished", "_sse")

    def __init__(self, translator: EventTranslator, *, skip: str | None = None) -> None:
        self.translator = translator
        self.skip = skip
        self.finished = False
        self._sse = SSEDecoder()

    def feed(self, data: bytes) -> Iterator[Chunk]:
        for event in self._sse.feed(data):
            if event.data != self.skip:
                yield from self.translator.feed(event.data)

    def close(self) -> list[Chunk]:
        return self.translator.close()


def batched(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """``chunks`` (those of one network read) with ``more`` set on all but the last.

    One chunk is held back to know whether another follows; when the next one
    raises instead, the held chunk is still delivered before the error."""
    held: Chunk | None = None
    try:
        for chunk in chunks:
            if held is not None:
                held.more = True
                yield held
            held = chunk
    except Exception:
        if held is not None:
            yield held
        raise
    if held is not None:
        yield held


class NativeProvider(Provider):
    """Shared plumbing; subclasses set ``parse_error`` and build URLs and bodies."""

    parse_error: ClassVar[ErrorParser]
    #: The ``accept`` of a streamed request.
    stream_accept: ClassVar[str] = "text/event-stream"
    #: Environment variables that may hold the key, in order (the first non-empty
    #: one wins); when set, a deployment without a key in any of them is refused.
    env_keys: ClassVar[tuple[str, ...]] = ()

    headers: dict[str, str]
    stream_headers: dict[str, str]

    def _resolve_key(self, deployment: DeploymentConfig) -> str | None:
        if deployment.api_key is not None or not self.env_keys:
            return super()._resolve_key(deployment)
        return next((os.environ[k] for k in self.env_keys if os.environ.get(k)), None)

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        """Problems that would stop this deployment from working, as ``(field, reason)``."""
        if not cls.env_keys or deployment.api_key is not None or any(os.environ.get(k) for k in cls.env_keys):
            return []
        first, *rest = cls.env_keys
        also = f" (or {' or '.join(rest)})" if rest else ""
        return [("api_key", f"required: set api_key or the {first}{also} environment variable")]

    def set_headers(self, own: dict[str, str]) -> None:
        """The headers of every request: JSON content, then ``own`` (version,
        credentials), then the deployment's ``headers``, which win."""
        headers = {"content-type": "application/json", "accept": "application/json", **own}
        headers.update({k.lower(): v.get_secret_value() for k, v in self.deployment.headers.items()})
        self.headers = headers
        self.stream_headers = {**headers, "accept": self.stream_accept}

    async def request_headers(self, url: str, payload: bytes, *, stream: bool) -> dict[str, str]:
        """Headers of one upstream request (credentials included)."""
        return self.stream_headers if stream else self.headers

    async def _post(self, url: str, body: dict[str, Any], call: Call, extra: dict[str, str] | None = None) -> Any:
        """POST ``body``; the response, or the upstream's error raised as a core error."""
        payload = orjson.dumps(body)
        headers = await self.request_headers(url, payload, stream=False)
        if extra:
            headers = {**headers, **extra}
        response = await self.http.request("POST", url, headers=headers, body=payload, timeout=self._timeout(call),
                                           connect_timeout=self.deployment.timeouts.connect)
        if response.status >= 300:
            raise type(self).parse_error(response.status, response.content, response.headers.get)
        return response

    async def _open(
        self, url: str, body: dict[str, Any], call: Call, reader: StreamReader, extra: dict[str, str] | None = None
    ) -> AsyncIterator[Chunk]:
        """POST ``body`` for a stream: resolves once the upstream accepted it, to the chunks."""
        payload = orjson.dumps(body)
        headers = await self.request_headers(url, payload, stream=True)
        if extra:
            headers = {**headers, **extra}
        context = self.http.stream("POST", url, headers=headers, body=payload, timeout=self._timeout(call),
                                   connect_timeout=self.deployment.timeouts.connect, total_timeout=call.remaining())
        response = await context.__aenter__()
        try:
            if response.status >= 300:
                raise type(self).parse_error(response.status, await response.aread(), response.headers.get)
        except BaseException as exc:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self._chunks(context, response, reader)

    async def _chunks(self, context: Any, response: Any, reader: StreamReader) -> AsyncIterator[Chunk]:
        try:
            async for data in response.aiter_bytes(idle_timeout=self.deployment.timeouts.idle):
                for chunk in batched(reader.feed(data)):
                    yield chunk
                if reader.finished:
                    break
            for chunk in batched(reader.close()):
                yield chunk
        finally:
            await context.__aexit__(None, None, None)
