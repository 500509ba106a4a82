"""What a provider is: a chat model, plus small optional abilities.

A provider adapter is bound to one deployment (endpoint, key, upstream model)
and speaks one wire format. ``chat`` and ``stream`` are the whole required
surface; embeddings and legacy completions are separate protocols that an
adapter implements only when its upstream has them — never as "not supported"
stubs. The built-in adapters talk HTTP through one shared ``driver.Driver``.
Policies (retry, breaker, fallback...) wrap a provider and are one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Protocol, runtime_checkable

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.messages import (
    ChatRequest,
    ChatResponse,
    Chunk,
    CompletionRequest,
    EmbeddingRequest,
    EmbeddingResponse,
    RerankRequest,
    RerankResponse,
)


@runtime_checkable
class ChatModel(Protocol):
    """The one required ability."""

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse: ...

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        """Resolves once the upstream accepted the request (status and headers
        read), to an async iterator of chunks; errors before that are raised here,
        errors after it from the iterator. The caller must ``aclose`` the iterator."""
        ...


@runtime_checkable
class EmbeddingModel(Protocol):
    async def embed(self, request: EmbeddingRequest, call: Call) -> EmbeddingResponse: ...


@runtime_checkable
class RerankModel(Protocol):
    """``/v1/rerank``: documents ordered by their relevance to a query."""

    async def rerank(self, request: RerankRequest, call: Call) -> RerankResponse: ...


@runtime_checkable
class CompletionModel(Protocol):
    """Legacy ``/v1/completions``: passed through, bytes in, bytes out."""

    async def complete(self, request: CompletionRequest, call: Call) -> ChatResponse: ...

    async def stream_complete(self, request: CompletionRequest, call: Call) -> AsyncIterator[Chunk]: ...


class Provider:
    """Shared base of the built-in adapters: the deployment and credentials."""

    name: ClassVar[str] = ""
    env_key: ClassVar[str | None] = None
    default_base_url: ClassVar[str | None] = None

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        self.deployment = deployment
        self.http = http
        self.base_url = (deployment.base_url or self.default_base_url or "").rstrip("/")
        self.api_key = self._resolve_key(deployment)

    def _resolve_key(self, deployment: DeploymentConfig) -> str | None:
        if deployment.api_key is not None:
            return deployment.api_key.get_secret_value()
        if self.env_key:
            return os.environ.get(self.env_key)
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.deployment.model!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Release what the adapter holds beyond the shared HTTP client."""
