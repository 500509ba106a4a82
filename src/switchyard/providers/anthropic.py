"""Anthropic's Messages API (``POST /v1/messages``) on the shared HTTP client.

Credentials: ``api_key`` or ``ANTHROPIC_API_KEY``, sent as ``x-api-key`` with
``anthropic-version: 2023-06-01``. Deployment options:

    max_tokens         default when the request names none (Anthropic requires it); 4096
    structured_output  "native" (``output_config.format``, default) or "tool"
                       (the tool-forcing technique, for models without structured output)
    anthropic_version  overrides the version header

Native forwarding: a request that came in on the gateway's own ``/v1/messages``
carries its Anthropic body (``ChatRequest.native``); it is sent as is with only
``model`` replaced (with the client's ``anthropic-version`` and ``anthropic-beta``
headers), and the answer
goes back as the upstream's bytes (``ChatResponse.native``, ``Chunk.native``)
while the OpenAI view is still produced for accounting. Everything else is
translated by ``anthropic_format``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamProtocolError
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk
from switchyard.providers import anthropic_format as wire
from switchyard.providers.base import Provider
from switchyard.transport.sse import SSEDecoder, encode_event

KEPT_HEADERS = (
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "request-id",
)


class AnthropicProvider(Provider):
    """Claude models on api.anthropic.com (or any server speaking its Messages API)."""

    name: ClassVar[str] = "anthropic"
    env_key: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        options = deployment.options
        self.max_tokens = int(options.get("max_tokens") or wire.DEFAULT_MAX_TOKENS)
        self.structured = str(options.get("structured_output") or "native")
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": str(options.get("anthropic_version") or wire.API_VERSION),
        }
        if self.api_key:
            headers["x-api-key"] = self.api_key
        headers.update({k.lower(): v for k, v in deployment.headers.items()})
        self.headers = headers
        self.stream_headers = {**headers, "accept": "text/event-stream"}
        self.url = self.base_url + ("/messages" if self.base_url.endswith("/v1") else "/v1/messages")

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        """Problems that would stop this deployment from working, as ``(field, reason)``."""
        problems = []
        if deployment.api_key is None and not os.environ.get("ANTHROPIC_API_KEY"):
            problems.append(("api_key", "required: set api_key or the ANTHROPIC_API_KEY environment variable"))
        if deployment.options.get("structured_output") not in (None, "native", "tool"):
            problems.append(("options.structured_output", "must be 'native' or 'tool'"))
        return problems

    def _body(self, request: ChatRequest, call: Call) -> tuple[dict[str, Any], dict[str, str] | None, bool]:
        """``(upstream body, extra headers, json tool forced)``."""
        native = request.native
        if native is not None and native[0] == "anthropic":
            body = dict(native[1])
            body["model"] = self.deployment.model
            # The body was written for the client's API version and betas: send those along.
            extra = {name: call.headers[name] for name in ("anthropic-version", "anthropic-beta") if call.headers.get(name)}
            return body, extra or None, False
        body = wire.build_request(request.body, self.deployment.model, default_max_tokens=self.max_tokens,
                                  structured=self.structured)
        return body, None, wire.json_tool_forced(body)

    def _timeout(self, call: Call) -> float:
        timeout = self.deployment.timeouts.request
        remaining = call.remaining()
        return timeout if remaining is None else max(0.001, min(timeout, remaining))

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body, extra, json_tool = self._body(request, call)
        body.pop("stream", None)
        headers = {**self.headers, **extra} if extra else self.headers
        response = await self.http.request("POST", self.url, headers=headers, body=orjson.dumps(body),
                                           timeout=self._timeout(call))
        if response.status >= 300:
            raise wire.parse_error(response.status, response.content, response.headers.get)
        result = wire.parse_message(response.content, json_tool=json_tool)
        if request.native is not None:
            result.native = response.content
        result.headers = _kept(response.headers)
        return result

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body, extra, json_tool = self._body(request, call)
        body["stream"] = True
        headers = {**self.stream_headers, **extra} if extra else self.stream_headers
        context = self.http.stream("POST", self.url, headers=headers, body=orjson.dumps(body),
                                   timeout=self._timeout(call))
        response = await context.__aenter__()
        try:
            if response.status >= 300:
                raise wire.parse_error(response.status, await response.aread(), response.headers.get)
        except BaseException as exc:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        decoder = wire.StreamDecoder(include_usage=request.include_usage, json_tool=json_tool)
        return self._chunks(context, response, decoder, request.native is not None)

    async def _chunks(self, context: Any, response: Any, decoder: wire.StreamDecoder, native: bool) -> AsyncIterator[Chunk]:
        sse = SSEDecoder()
        idle = self.deployment.timeouts.idle
        try:
            async for data in response.aiter_bytes(idle_timeout=idle):
                for event in sse.feed(data):
                    chunk = decoder.decode(event.event, event.data)
                    if native:
                        chunk = chunk or Chunk()
                        chunk.native = encode_event(event.data, event=event.event)
                        yield chunk
                    elif chunk is not None:
                        yield chunk
                if decoder.done:
                    break
            if not decoder.done:
                raise UpstreamProtocolError("Upstream stream ended before message_stop")
        finally:
            await context.__aexit__(None, None, None)


def _kept(headers: Any) -> dict[str, str]:
    out = {}
    for name in KEPT_HEADERS:
        value = headers.get(name)
        if value is not None:
            out[name] = value
    return out
