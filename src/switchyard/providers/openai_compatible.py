"""The HTTP driver for every upstream that speaks the OpenAI wire format.

Vendors differ only in data: base URL, key variable, how the key is sent,
and a few quirks (fields they reject, whether they report stream usage).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
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
from switchyard.providers.upstream_json import json_object
from switchyard.transport.sse import SSEDecoder

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

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.api_key:
            headers[self.auth_header] = f"{self.auth_prefix}{self.api_key}"
        headers.update({k.lower(): v.get_secret_value() for k, v in deployment.headers.items()})
        headers.update(self.extra_headers())
        self.headers = headers
        self.stream_headers = {**headers, "accept": "text/event-stream"}

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
        response = await self.http.request(
            "POST",
            self.url(operation),
            headers=self.headers,
            body=orjson.dumps(body),
            timeout=self._timeout(call),
            connect_timeout=self.deployment.timeouts.connect,
        )
        if response.status >= 300:
            raise wire.parse_error(response.status, response.content, response.headers.get)
        return response

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body = wire.build_chat_body(request, self.deployment.model, drop=self.drop_fields, rename=self.rename_fields)
        response = await self._post("chat/completions", body, call)
        result = wire.parse_chat(response.content)
        result.headers = _kept(response.headers)
        return result

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body = wire.build_chat_body(
            request, self.deployment.model, ask_usage=self.stream_usage, drop=self.drop_fields, rename=self.rename_fields
        )
        decoder = wire.StreamDecoder(hide_usage=self.stream_usage and not request.include_usage)
        return await self._open_stream("chat/completions", body, call, decoder)

    async def _open_stream(self, operation: str, body: dict[str, Any], call: Call, decoder: Any) -> AsyncIterator[Chunk]:
        context = self.http.stream(
            "POST",
            self.url(operation),
            headers=self.stream_headers,
            body=orjson.dumps(body),
            timeout=self._timeout(call),
            connect_timeout=self.deployment.timeouts.connect,
            total_timeout=call.remaining(),
        )
        response = await context.__aenter__()
        try:
            if response.status >= 300:
                raise wire.parse_error(response.status, await response.aread(), response.headers.get)
        except BaseException as exc:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        call.upstream_headers = _kept(response.headers)
        return self._chunks(context, response, decoder)

    async def _chunks(self, context: Any, response: Any, decoder: wire.StreamDecoder) -> AsyncIterator[Chunk]:
        sse = SSEDecoder()
        idle = self.deployment.timeouts.idle
        try:
            async for data in response.aiter_bytes(idle_timeout=idle):
                ready = [chunk for event in sse.feed(data) if (chunk := decoder.decode(event.data)) is not None]
                for chunk in ready[:-1]:
                    chunk.more = True
                for chunk in ready:
                    yield chunk
                if decoder.done:
                    break
            if not decoder.done:
                raise UpstreamProtocolError("Upstream stream ended before [DONE]")
        finally:
            await context.__aexit__(None, None, None)

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
        return await self._open_stream("completions", body, call, wire.StreamDecoder())


def _kept(headers: Any) -> dict[str, str]:
    """The ``KEPT_HEADERS`` of a response, in one pass over its items."""
    return {name: value for name, value in headers.items() if name in _KEPT}


_KEPT = frozenset(KEPT_HEADERS)
