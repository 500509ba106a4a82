"""The adapter for every upstream that speaks the OpenAI wire format.

Vendors differ only in data: base URL, key variable, how the key is sent,
and a few quirks (fields they reject, whether they report stream usage). The
bodies and parsing are ``openai_format``; the HTTP is the shared ``Driver``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, ClassVar

import orjson

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamProtocolError
from switchyard.core.messages import (
    ChatRequest,
    ChatResponse,
    Chunk,
    CompletionRequest,
    EmbeddingRequest,
    EmbeddingResponse,
)
from switchyard.providers import openai_format as wire
from switchyard.providers.base import Provider
from switchyard.providers.driver import Driver
from switchyard.providers.upstream_json import json_object
from switchyard.transport.sse import SSEDecoder, data_only

# Upstream response headers worth keeping (rate-limit learning, request ids).
KEPT_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "x-request-id",
)


class OpenAICompatibleProvider(Provider):
    """Any ``/chat/completions`` upstream; subclasses set data, not code."""

    name: ClassVar[str] = "openai_compatible"
    auth_header: ClassVar[str] = "authorization"
    auth_prefix: ClassVar[str] = "Bearer "
    key_required: ClassVar[bool] = False
    #: Request fields the vendor rejects; dropped before sending.
    drop_fields: ClassVar[tuple[str, ...]] = ()
    #: Request fields the vendor names differently.
    rename_fields: ClassVar[dict[str, str]] = {}
    #: Whether the vendor honours ``stream_options.include_usage``.
    stream_usage: ClassVar[bool] = True
    parse_error = staticmethod(wire.parse_error)
    #: Upstream response headers worth keeping, by the name they are kept under.
    kept_headers: ClassVar[Mapping[str, str]] = {name: name for name in KEPT_HEADERS}

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.api_key:
            headers[self.auth_header] = f"{self.auth_prefix}{self.api_key}"
        headers.update({k.lower(): v.get_secret_value() for k, v in deployment.headers.items()})
        headers.update(self.extra_headers())
        self.headers = headers
        self.stream_headers = {**headers, "accept": "text/event-stream"}
        self.driver = Driver(http, deployment.timeouts, type(self).parse_error, self.kept_headers)

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        """Problems that would stop this deployment from working, as ``(field, reason)``."""
        problems = []
        if cls.key_required and deployment.api_key is None and not (cls.env_key and os.environ.get(cls.env_key)):
            problems.append(("api_key", f"required: set api_key or the {cls.env_key} environment variable"))
        if not deployment.base_url and not cls.default_base_url and cls.name != "azure":
            problems.append(("base_url", f"required for provider {cls.name!r}"))
        return problems

    def extra_headers(self) -> dict[str, str]:
        return {}

    def url(self, operation: str) -> str:
        """The URL for ``chat/completions``, ``embeddings`` or ``completions``."""
        return f"{self.base_url}/{operation}"

    async def _post(self, operation: str, body: dict[str, Any], call: Call) -> Any:
        return await self.driver.send(self.url(operation), orjson.dumps(body), self.headers, call)

    def _open(self, operation: str, body: dict[str, Any], call: Call, decoder: wire.StreamDecoder) -> Awaitable[AsyncIterator[Chunk]]:
        return self.driver.open(self.url(operation), orjson.dumps(body), self.stream_headers, call, ChunkEvents(decoder))

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body = wire.build_chat_body(request, self.deployment.model, drop=self.drop_fields, rename=self.rename_fields)
        response = await self.driver.send(self.url("chat/completions"), orjson.dumps(body), self.headers, call)
        result = wire.parse_chat(response.content)
        result.headers = call.upstream_headers or {}
        return result

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body = wire.build_chat_body(
            request, self.deployment.model, ask_usage=self.stream_usage, drop=self.drop_fields, rename=self.rename_fields
        )
        decoder = wire.StreamDecoder(hide_usage=self.stream_usage and not request.include_usage)
        return await self._open("chat/completions", body, call, decoder)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        body = dict(request.body)
        body["model"] = self.deployment.model
        response = await self._post("embeddings", body, call)
        return wire.parse_embeddings(response.content)

    async def complete(self, request: CompletionRequest, call: Call) -> ChatResponse:
        body = dict(request.body)
        body["model"] = self.deployment.model
        response = await self._post("completions", body, call)
        parsed = json_object(response.content)
        return ChatResponse(body=parsed, raw=response.content)

    async def stream_complete(self, request: CompletionRequest, call: Call) -> AsyncIterator[Chunk]:
        body = dict(request.body)
        body["model"] = self.deployment.model
        return await self._open("completions", body, call, wire.StreamDecoder())


class ChunkEvents:
    """The ``StreamReader`` of an OpenAI stream: SSE events through
    ``wire.StreamDecoder``, up to ``[DONE]``.

    Reads of whole one-line ``data:`` events (what OpenAI-format upstreams send) are split
    here and decoded as bytes; a paced stream's read, one such event, costs one check and
    one slice. Anything else goes through an ``SSEDecoder``, made the first time it is needed."""

    __slots__ = ("decoder", "finished", "_sse")

    def __init__(self, decoder: wire.StreamDecoder) -> None:
        self.decoder = decoder
        self.finished = False
        self._sse: SSEDecoder | None = None

    def feed(self, data: bytes) -> list[Chunk]:
        sse = self._sse
        decoder = self.decoder
        if sse is None or sse.idle:
            end = len(data) - 2
            if data.find(b"\n") == end and data[:6] == b"data: " and data[end:] == b"\n\n" and data.find(b"\r") < 0:
                chunk = decoder.decode_raw(data[6:end])  # one whole event
                self.finished = decoder.done
                return [] if chunk is None else [chunk]
            payloads = data_only(data)
            if payloads is not None:  # whole one-line events
                raw = decoder.decode_raw
                chunks = [chunk for payload in payloads if (chunk := raw(payload)) is not None]
                self.finished = decoder.done
                return chunks
            if sse is None:
                sse = self._sse = SSEDecoder()
        decode = decoder.decode
        chunks = [chunk for event in sse.feed(data) if (chunk := decode(event.data)) is not None]
        self.finished = decoder.done
        return chunks

    def close(self) -> list[Chunk]:
        if not self.decoder.done:
            raise UpstreamProtocolError("Upstream stream ended before [DONE]")
        return []
