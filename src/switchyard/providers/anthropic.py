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
translated by ``anthropic_format.upstream`` (streams by ``upstream_stream``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamProtocolError
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk
from switchyard.providers.anthropic_format import upstream as wire
from switchyard.providers.anthropic_format.upstream_stream import StreamDecoder
from switchyard.providers.native import NativeProvider
from switchyard.transport.sse import SSEDecoder, encode_event

# Upstream response headers worth keeping (rate-limit state, request ids).
KEPT_HEADERS = (
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "request-id",
)


class AnthropicProvider(NativeProvider):
    """Claude models on api.anthropic.com (or any server speaking its Messages API)."""

    name: ClassVar[str] = "anthropic"
    env_key: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    env_keys: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"
    parse_error = staticmethod(wire.parse_error)
    kept_headers: ClassVar[Mapping[str, str]] = {name: name for name in KEPT_HEADERS}

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        options = deployment.options
        self.max_tokens = int(options.get("max_tokens") or wire.DEFAULT_MAX_TOKENS)
        self.structured = str(options.get("structured_output") or "native")
        own = {"anthropic-version": str(options.get("anthropic_version") or wire.API_VERSION)}
        if self.api_key:
            own["x-api-key"] = self.api_key
        self.set_headers(own)
        self.url = self.base_url + ("/messages" if self.base_url.endswith("/v1") else "/v1/messages")

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        """Problems that would stop this deployment from working, as ``(field, reason)``."""
        problems = super().check_config(deployment)
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

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body, extra, json_tool = self._body(request, call)
        body.pop("stream", None)
        response = await self._post(self.url, body, call, extra)
        result = wire.parse_message(response.content, json_tool=json_tool)
        if request.native is not None:
            result.native = response.content
        result.headers = call.upstream_headers or {}
        return result

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body, extra, json_tool = self._body(request, call)
        body["stream"] = True
        decoder = StreamDecoder(include_usage=request.include_usage, json_tool=json_tool)
        return await self._open(self.url, body, call, MessageEvents(decoder, native=request.native is not None), extra)


class MessageEvents:
    """The ``StreamReader`` of a Messages stream: SSE events through ``StreamDecoder``,
    up to ``message_stop``. ``native``: every event also keeps its own frame
    (``Chunk.native``), for a client that speaks Anthropic."""

    __slots__ = ("decoder", "native", "_sse")

    def __init__(self, decoder: StreamDecoder, *, native: bool) -> None:
        self.decoder = decoder
        self.native = native
        self._sse = SSEDecoder()

    @property
    def finished(self) -> bool:
        return self.decoder.done

    def feed(self, data: bytes) -> Iterator[Chunk]:
        for event in self._sse.feed(data):
            chunk = self.decoder.decode(event.event, event.data)
            if self.native:
                chunk = chunk or Chunk()
                chunk.native = encode_event(event.data, event=event.event)
            if chunk is not None:
                yield chunk

    def close(self) -> list[Chunk]:
        if not self.decoder.done:
            raise UpstreamProtocolError("Upstream stream ended before message_stop")
        return []
