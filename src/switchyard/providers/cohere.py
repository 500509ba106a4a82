"""Cohere chat v2 (``/v2/chat``) and embed v2 (``/v2/embed``); ``Authorization: Bearer``.

Config::

    models:
      command:
        deployments:
          - provider: cohere
            model: command-a-03-2025       # api_key: or COHERE_API_KEY / CO_API_KEY
            options:
              input_type: search_document   # optional, for embeddings
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingRequest, EmbeddingResponse
from switchyard.providers import cohere_format as wire
from switchyard.providers import openai_shapes as shapes
from switchyard.providers.native import NativeProvider

ENV_KEYS = ("COHERE_API_KEY", "CO_API_KEY")


class CohereProvider(NativeProvider):
    """One Cohere model (``base_url`` is the API root, without ``/v2``)."""

    name: ClassVar[str] = "cohere"
    env_key: ClassVar[str | None] = "COHERE_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.cohere.com"
    parse_error = staticmethod(wire.parse_error)
    done_data: ClassVar[str | None] = "[DONE]"

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        headers.update({k.lower(): v for k, v in deployment.headers.items()})
        self.headers = headers

    def _resolve_key(self, deployment: DeploymentConfig) -> str | None:
        if deployment.api_key is not None:
            return deployment.api_key.get_secret_value()
        return next((os.environ[k] for k in ENV_KEYS if os.environ.get(k)), None)

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        if deployment.api_key is None and not any(os.environ.get(k) for k in ENV_KEYS):
            return [("api_key", "required: set api_key or the COHERE_API_KEY (or CO_API_KEY) environment variable")]
        return []

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body = wire.build_request(request, self.deployment.model)
        body.pop("stream", None)
        response = await self._post(f"{self.base_url}/v2/chat", body, call)
        return wire.parse_response(response.content, self.deployment.model)

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body = {**wire.build_request(request, self.deployment.model), "stream": True}
        decoder = wire.StreamDecoder(self.deployment.model, include_usage=request.include_usage)
        return await self._open_sse(f"{self.base_url}/v2/chat", body, call, decoder)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        texts = shapes.embedding_inputs(request.body)
        body = wire.build_embed_request(texts, self.deployment.model, request.body, self.deployment.options)
        response = await self._post(f"{self.base_url}/v2/embed", body, call)
        return wire.parse_embed_response(response.content, self.deployment.model, texts, request.body.get("encoding_format"))
