"""The semantic cache in the cache stage: its seam (``cache.protocols.SemanticCache``).

``SemanticSeam`` answers the stage's ``lookup(partition, alias, call)`` and
``store(partition, alias, call, entry, ttl)`` for chat calls of aliases whose
``cache:`` says ``semantic``, with the alias's threshold. The stage's entries are
kept as their bytes (``cache.entry.encode``). What the stage's exact key holds
beyond the body — the surface (OpenAI or Anthropic's Messages, and its version
headers), streamed or not and with usage or not (a kept stream is replayed as
streamed), the routing tags — is the lookup's ``variant``: a hit never serves
an answer in another shape or from other deployments.

``build_semantic(config, shared, pipeline)`` makes it from ``cache.semantic``:
the embedded model (loaded in its worker thread at ``start`` unless
``preload: false``) or an embedding alias through ``pipeline()``; entries in
this process, or in Redis with ``cache.backend: redis``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from switchyard.cache.entry import Entry, decode, encode
from switchyard.cache.key import ANTHROPIC_HEADERS
from switchyard.cache.protocols import SimilarHit
from switchyard.cache.semantic.cache import SemanticCache, SemanticHit, SemanticSettings
from switchyard.cache.semantic.embedder import Embedder
from switchyard.cache.semantic.entries import entries_for
from switchyard.core.call import Call, Kind
from switchyard.core.config import Config
from switchyard.core.config.semantic import AliasSemantic, SemanticConfig

log = logging.getLogger("switchyard.cache.semantic")


def variant_of(call: Call) -> str:
    """What must be equal besides the body for two calls to share an answer (see the module docstring)."""
    request = call.request
    native = getattr(request, "native", None)
    surface = "openai" if native is None else native[0]
    headers = [call.headers.get(name) for name in ANTHROPIC_HEADERS] if surface == "anthropic" else None
    return orjson.dumps([surface, headers, bool(call.stream), bool(getattr(request, "include_usage", False)),
                         sorted(call.tags)]).decode()


def threshold_of(call: Call, default: float) -> float | None:
    """The alias's threshold, or None when its ``cache:`` does not say ``semantic``."""
    alias = call.group.config.cache
    semantic = None if alias is None else alias.semantic
    if semantic is False or semantic is None:
        return None
    if isinstance(semantic, AliasSemantic) and semantic.threshold is not None:
        return semantic.threshold
    return default


class SemanticSeam:
    """``cache.protocols.SemanticCache`` over a ``SemanticCache`` (``self.cache``)."""

    def __init__(self, cache: SemanticCache, settings: SemanticConfig, *,
                 preload: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        self.cache = cache
        self.settings = settings
        self._preload = preload
        self._loading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow the shared entries (Redis) and load the embedded model, in the background."""
        await self.cache.start()
        if self._preload is not None and self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._preload(), name="switchyard-semantic-load")

    async def lookup(self, partition: str, alias: str, call: Call) -> SimilarHit | None:
        if call.kind is not Kind.CHAT:
            return None
        threshold = threshold_of(call, self.settings.threshold)
        if threshold is None:
            return None
        found = await self.cache.lookup(partition, alias, call.request, threshold=threshold,
                                        variant=variant_of(call))
        if not isinstance(found, SemanticHit):
            return None
        entry = decode(found.answer)
        return None if entry is None else SimilarHit(entry, found.similarity)

    async def store(self, partition: str, alias: str, call: Call, entry: Entry, ttl: float) -> None:
        if call.kind is not Kind.CHAT or threshold_of(call, self.settings.threshold) is None:
            return
        await self.cache.store(partition, alias, call.request, encode(entry), ttl, variant=variant_of(call))

    def inspect(self, partition: str | None = None, alias: str | None = None, *, limit: int = 100) -> dict[str, Any]:
        return self.cache.inspect(partition, alias, limit=limit)

    async def purge(self, partition: str, alias: str | None = None) -> int:
        return await self.cache.purge(partition, alias)

    async def aclose(self) -> None:
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)  # the load is not interruptible
        await self.cache.aclose()


def build_semantic(config: Config, shared: Any, pipeline: Callable[[], Any] | None) -> SemanticSeam:
    """The seam of ``config.cache.semantic`` (its defaults when unset); ``shared`` is the store replicas
    share, ``pipeline()`` the gateway's pipeline (for an embedding alias)."""
    settings = config.cache.semantic or SemanticConfig()
    embedding = settings.embedding
    embedder: Embedder
    preload = None
    if embedding.alias is not None:
        if pipeline is None:
            raise ValueError("cache.semantic.embedding.alias needs the gateway's pipeline")
        from switchyard.cache.semantic.alias import AliasEmbedder, through_pipeline

        embedder = AliasEmbedder(embedding.alias, through_pipeline(pipeline), max_pending=settings.max_pending)
    else:
        from switchyard.cache.semantic.minilm import MiniLM, MiniLMEmbedder, packaged_model

        path = Path(embedding.path) if embedding.path is not None else None
        if path is None:
            packaged_model()  # raises now, naming what to install, rather than at the first request
        minilm = MiniLMEmbedder(model=MiniLM(path), max_pending=settings.max_pending)
        embedder = minilm
        if settings.preload:
            preload = _warm(minilm)
    entries = entries_for(shared if config.cache.backend == "redis" else None, max_entries=settings.max_entries)
    cache = SemanticCache(embedder, entries, settings=SemanticSettings(
        threshold=settings.threshold, ttl=config.cache.ttl, max_entries=settings.max_entries,
        max_turns=settings.max_turns, max_chars=settings.max_chars, exact_numbers=settings.exact_numbers,
        max_answer_bytes=config.cache.max_entry_bytes))
    return SemanticSeam(cache, settings, preload=preload)


def _warm(embedder: Any) -> Callable[[], Coroutine[Any, Any, None]]:
    """Loads the model in its worker thread; a failure is logged (requests then bypass)."""

    async def load() -> None:
        try:
            seconds = await embedder.warm()
        except Exception as exc:
            log.error("semantic cache: the embedding model did not load: %s", exc)
        else:
            log.info("semantic cache: the embedding model loaded in %.2f s", seconds)

    return load
