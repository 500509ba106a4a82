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

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.messages import (
    ChatRequest,
    ChatResponse,
    Chunk,
    EmbeddingRequest,
    EmbeddingResponse,
    RerankRequest,
    RerankResponse,
    Usage,
    rerank_body,
)
from switchyard.providers import cohere_format as wire
from switchyard.providers import openai_shapes as shapes
from switchyard.providers.driver import SSEStream
from switchyard.providers.native import NativeProvider
from switchyard.providers.upstream_json import json_object


class CohereProvider(NativeProvider):
    """One Cohere model (``base_url`` is the API root, without ``/v2``)."""

    name: ClassVar[str] = "cohere"
    env_key: ClassVar[str | None] = "COHERE_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.cohere.com"
    env_keys: ClassVar[tuple[str, ...]] = ("COHERE_API_KEY", "CO_API_KEY")
    parse_error = staticmethod(wire.parse_error)

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        self.set_headers({"authorization": f"Bearer {self.api_key}"} if self.api_key else {})

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        body = wire.build_request(request, self.deployment.model)
        body.pop("stream", None)
        response = await self._post(f"{self.base_url}/v2/chat", body, call)
        return wire.parse_response(response.content, self.deployment.model)

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        body = {**wire.build_request(request, self.deployment.model), "stream": True}
        decoder = wire.StreamDecoder(self.deployment.model, include_usage=request.include_usage)
        return await self._open(f"{self.base_url}/v2/chat", body, call, SSEStream(decoder, skip="[DONE]"))

    async def rerank(self, request: RerankRequest, call: Call) -> RerankResponse:
        """Cohere's ``/v2/rerank``; billed per search unit, so no tokens are reported (the cost
        is the deployment's price of none: set ``price`` per request where it matters)."""
        body: dict[str, Any] = {"model": self.deployment.model, "query": request.query,
                                "documents": request.documents}
        if request.top_n is not None:
            body["top_n"] = request.top_n
        response = await self._post(f"{self.base_url}/v2/rerank", body, call)
        answer = json_object(response.content)
        scores = [0.0] * len(request.documents)
        for item in answer.get("results") or ():
            index = item.get("index")
            if isinstance(index, int) and 0 <= index < len(scores):
                scores[index] = float(item.get("relevance_score") or 0.0)
        usage = Usage(prompt_tokens=0)
        return RerankResponse(body=rerank_body(request, scores, self.deployment.model, usage, str(answer.get("id", ""))),
                              usage=usage)

    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        texts = shapes.embedding_inputs(request.body)
        body = wire.build_embed_request(texts, self.deployment.model, request.body, self.deployment.options)
        response = await self._post(f"{self.base_url}/v2/embed", body, call)
        return wire.parse_embed_response(response.content, self.deployment.model, texts, request.body.get("encoding_format"))
