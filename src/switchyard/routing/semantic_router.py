"""The semantic selector: route examples per target alias, a request to the nearest one.

The examples of every route are embedded once, when the gateway starts (in the
background: the first requests wait for it, up to ``FIRST_WAIT`` or their deadline,
then take the default); a failed embedding is tried again at most every ``RETRY_SECONDS``. A
request's last user turn is embedded, compared with every example (cosine, one
matrix product), and each route scores its nearest example. The best route wins
when its score reaches ``threshold``; below it, or when the embedder cannot answer
(busy, failed, a text too long for the model), ``default`` is chosen.

Vectors come from the embedded MiniLM (``cache/semantic/minilm.py``, the ``semantic``
extra, weights installed as a package) or an embedding alias through the gateway's
pipeline (``cache/semantic/alias.py``): the semantic cache's embedders, reused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config.selection import SemanticSelect
from switchyard.core.config.semantic import SemanticEmbedding
from switchyard.routing.selection import Choice, last_user_text

log = logging.getLogger("switchyard.routing")

#: Seconds between tries at embedding the examples after one failed.
RETRY_SECONDS = 30.0
#: Seconds a request waits at most for the examples (less when its deadline is nearer).
FIRST_WAIT = 10.0


def embedder_for(embedding: SemanticEmbedding, pipeline: Callable[[], Any]) -> Any:
    """The embedder ``embedding`` names: an alias through ``pipeline()``, or the embedded model."""
    if embedding.alias is not None:
        from switchyard.auth import Caller
        from switchyard.cache.semantic.alias import AliasEmbedder, through_pipeline

        return AliasEmbedder(embedding.alias, through_pipeline(pipeline, caller=Caller(name="model-selector",
                                                                                        is_master=True)))
    from switchyard.cache.semantic.minilm import MiniLM, MiniLMEmbedder, packaged_model

    path = Path(embedding.path) if embedding.path is not None else None
    if path is None:
        packaged_model()  # raises now, naming what to install
    return MiniLMEmbedder(model=MiniLM(path))


class SemanticSelector:
    """See the module docstring."""

    method = "semantic"

    def __init__(self, config: SemanticSelect, embedder: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.embedder = embedder
        self.clock = clock
        self._matrix: Any = None
        self._owners: list[str] = []
        self._loading: asyncio.Task[None] | None = None
        self._failed_at: float | None = None

    async def start(self) -> None:
        """Begin embedding the examples (in the background)."""
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._embed_examples(),
                                                                   name="switchyard-selector-examples")

    async def _embed_examples(self) -> None:
        import numpy as np

        texts = [text for examples in self.config.routes.values() for text in examples]
        owners = [alias for alias, examples in self.config.routes.items() for _ in examples]
        started = time.perf_counter()
        try:
            vectors: list[Any] = []
            for at in range(0, len(texts), 256):  # within any embedder's queue bound
                vectors.extend(await self.embedder.embed(texts[at:at + 256]))
        except Exception as exc:
            self._failed_at = self.clock()
            log.error("semantic selector: the route examples could not be embedded: %s", exc)
            raise
        kept = [(v, owner) for v, owner in zip(vectors, owners) if v is not None]
        skipped = len(texts) - len(kept)
        if skipped:
            log.warning("semantic selector: %d route examples are too long for the model and were left out", skipped)
        if kept:
            self._matrix = np.stack([v for v, _ in kept])
            self._owners = [owner for _, owner in kept]
        log.info("semantic selector: %d route examples embedded in %.2f s", len(kept), time.perf_counter() - started)

    async def _ready(self, call: Call) -> bool:
        if self._matrix is not None:
            return True
        loading = self._loading
        if loading is None or (loading.done() and self._failed_at is not None
                               and self.clock() - self._failed_at >= RETRY_SECONDS):
            self._failed_at = None
            self._loading = None
            await self.start()
            loading = self._loading
        assert loading is not None
        remaining = call.remaining()
        try:
            await asyncio.wait_for(asyncio.shield(loading), FIRST_WAIT if remaining is None
                                   else max(min(remaining, FIRST_WAIT), 0))
        except (Exception, TimeoutError):
            return False
        return self._matrix is not None

    async def choose(self, request: Any, call: Call) -> Choice:
        config = self.config
        text = last_user_text(request, config.max_chars)
        if not text:
            return Choice(config.default, "default", reason="no_user_text")
        if not await self._ready(call):
            return Choice(config.default, "default", reason="examples_unavailable")
        try:
            [vector] = await self.embedder.embed([text])
        except Exception as exc:
            log.warning("semantic selector: the embedder cannot answer: %s", exc)
            return Choice(config.default, "default", reason="embedder_unavailable")
        if vector is None:
            return Choice(config.default, "default", reason="too_long_to_embed")
        return self.nearest(vector)

    def nearest(self, vector: Any) -> Choice:
        """The choice for a request embedded as ``vector`` (a unit vector)."""
        similarities = self._matrix @ vector
        best: dict[str, float] = {}
        for owner, similarity in zip(self._owners, similarities.tolist()):
            if similarity > best.get(owner, -2.0):
                best[owner] = similarity
        ranked = sorted(best.items(), key=lambda item: -item[1])
        alternatives = [{"route": alias, "similarity": round(score, 4)} for alias, score in ranked]
        alias, score = ranked[0]
        if score < self.config.threshold:
            return Choice(self.config.default, "default", score=score, reason="below_threshold",
                          alternatives=alternatives)
        return Choice(alias, "semantic", score=score, alternatives=alternatives)

    async def aclose(self) -> None:
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)
        await self.embedder.aclose()
