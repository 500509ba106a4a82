"""Embeddings from an alias the gateway serves, through its own pipeline (a mock OpenAI upstream)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import switchyard
from switchyard.cache.semantic import SemanticCache, SemanticHit, SemanticMiss
from switchyard.cache.semantic.alias import AliasEmbedder, through_pipeline
from switchyard.mock import MockUpstreamThread


def ask(text: str) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": text}], "temperature": 0}


async def test_vectors_come_from_the_embedding_alias_in_process(
        mock_upstream: MockUpstreamThread, openai_deployment: Callable[..., dict[str, Any]]) -> None:
    config = {"models": {"embed": {"deployments": [openai_deployment(mock_upstream, "text-embedding-3-small")]}}}
    async with switchyard.AsyncClient(config) as client:
        services = await client.start()
        cache = SemanticCache(AliasEmbedder("embed", through_pipeline(lambda: services.pipeline)))
        try:
            assert await cache.store("tenant:acme", "chat", ask("What is the capital of France?"), b"Paris")
            hit = await cache.lookup("tenant:acme", "chat", ask("What is the capital of France?"))
            assert isinstance(hit, SemanticHit) and hit.answer == b"Paris" and hit.similarity == 1.0
            miss = await cache.lookup("tenant:acme", "chat", ask("How do I bake bread?"))
            assert isinstance(miss, SemanticMiss) and miss.reason == "miss"
            assert cache.inspect()["embedder"] == "alias:embed"
            assert mock_upstream.count("/v1/embeddings") == 2  # the store reused the vector of its text
        finally:
            await cache.aclose()


async def test_a_failing_embedding_alias_is_a_bypass_not_an_error(
        mock_upstream: MockUpstreamThread, openai_deployment: Callable[..., dict[str, Any]]) -> None:
    config = {"models": {"embed": {"deployments": [openai_deployment(mock_upstream, "text-embedding-3-small")]}}}
    async with switchyard.AsyncClient(config) as client:
        services = await client.start()
        embedder = AliasEmbedder("embed", through_pipeline(lambda: services.pipeline))
        cache = SemanticCache(embedder)
        try:
            assert await cache.store("tenant:acme", "chat", ask("What is the capital of France?"), b"Paris")
            embedder.alias = "no-such-alias"  # the alias now answers 404
            miss = await cache.lookup("tenant:acme", "chat", ask("Which city is the capital of France?"))
            assert isinstance(miss, SemanticMiss) and miss.reason == "embedder_unavailable" and miss.bypassed
            assert await cache.store("tenant:acme", "chat", ask("How do I bake bread?"), b"Flour") is None
        finally:
            await cache.aclose()
