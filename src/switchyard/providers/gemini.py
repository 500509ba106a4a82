"""Google Gemini on AI Studio: ``generateContent``, ``streamGenerateContent?alt=sse``,
``batchEmbedContents``; the key travels in ``x-goog-api-key``.

Config::

    models:
      gemini-flash:
        deployments:
          - provider: gemini
            model: gemini-2.5-flash          # api_key: or GEMINI_API_KEY / GOOGLE_API_KEY
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingRequest, EmbeddingResponse
from switchyard.providers import gemini_format as wire
from switchyard.providers import openai_shapes as shapes
from switchyard.providers.driver import SSEStream
from switchyard.providers.native import NativeProvider


class GeminiProvider(NativeProvider):
    """One Gemini model on AI Studio (``base_url`` ends in ``/v1beta``)."""

    name: ClassVar[str] = "gemini"
    env_key: ClassVar[str | None] = "GEMINI_API_KEY"
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com/v1beta"
    env_keys: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    parse_error = staticmethod(wire.parse_error)

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        self.set_headers(self.auth_headers())

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key} if self.api_key else {}

    def url(self, operation: str) -> str:
        """``{base}/models/{model}:{operation}``."""
        return f"{self.base_url}/models/{self.deployment.model}:{operation}"

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        response = await self._post(self.url("generateContent"), wire.build_request(request), call)
        return wire.parse_response(response.content, self.deployment.model)

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        decoder = wire.StreamDecoder(self.deployment.model, include_usage=request.include_usage)
        url = self.url("streamGenerateContent") + "?alt=sse"
        return await self._open(url, wire.build_request(request), call, SSEStream(decoder))

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        texts = shapes.embedding_inputs(request.body)
        body = wire.build_embed_request(texts, self.deployment.model, request.body, self.deployment.options)
        response = await self._post(self.url("batchEmbedContents"), body, call)
        return wire.parse_embed_response(response.content, self.deployment.model, texts, request.body.get("encoding_format"))
