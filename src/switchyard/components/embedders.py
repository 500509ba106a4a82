"""Embedders of components: any embedding alias through the gateway, or the offline MiniLM.

``AliasEmbedder(alias=..., client=...)`` calls ``AsyncClient.embed`` — the
gateway's own pipeline in-process — so the alias's routing, limits, cache,
budgets and spend records apply to ingestion and queries alike. Texts go in
batches of ``batch`` per request.

``MiniLMEmbedder`` is the semantic cache's embedded all-MiniLM-L6-v2
(``cache/semantic/minilm.py``, extra ``semantic``, weights installed as a
package, nothing downloaded), set to embed a text longer than the model's 256
word pieces by its beginning rather than refuse it.

Both answer a float32 matrix, one unit row per text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from switchyard.core.errors import InvalidRequest

Matrix = npt.NDArray[np.float32]

#: Texts the MiniLM worker holds at most (one slice of a bigger request at a time).
PENDING = 512


def unit_rows(vectors: Any) -> Matrix:
    """``vectors`` as a float32 matrix whose rows have length 1 (a zero row stays zero)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: Matrix = (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)
    return out


class AliasEmbedder:
    """Vectors of an embedding alias served by the gateway (``client``: a ``switchyard.AsyncClient``)."""

    def __init__(self, *, alias: str, client: Any, batch: int = 64, dimensions: int | None = None) -> None:
        if not alias:
            raise InvalidRequest("the alias embedder needs an embedding alias", param="alias")
        if client is None:
            raise InvalidRequest("the alias embedder needs a switchyard.AsyncClient", param="client")
        if not 1 <= batch <= 2048:
            raise InvalidRequest(f"batch must be between 1 and 2048, got {batch}", param="batch")
        self.alias = alias
        self.name = f"alias:{alias}"
        self.client = client
        self.batch = batch
        self.dimensions = dimensions

    async def embed(self, texts: Sequence[str]) -> Matrix:
        rows: list[Any] = []
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        for start in range(0, len(texts), self.batch):
            part = list(texts[start:start + self.batch])
            response = await self.client.embed(model=self.alias, input=part, encoding_format="float", **extra)
            vectors = response.vectors
            if len(vectors) != len(part):
                raise InvalidRequest(f"embedding alias {self.alias!r} answered {len(vectors)} vectors for "
                                     f"{len(part)} texts", param="alias")
            rows.extend(vectors)
        if not rows:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        return unit_rows(rows)

    async def aclose(self) -> None:
        """Nothing: the client belongs to the caller."""


class MiniLMEmbedder:
    """The offline all-MiniLM-L6-v2 (384 dimensions), one worker thread, batched."""

    def __init__(self, *, path: str | None = None, max_batch: int = 32, model: Any = None) -> None:
        from pathlib import Path

        from switchyard.cache.semantic.minilm import MiniLM
        from switchyard.cache.semantic.minilm import MiniLMEmbedder as CacheEmbedder

        self.model = model or MiniLM(Path(path) if path else None, truncate=True)
        self._embedder = CacheEmbedder(model=self.model, max_batch=max_batch, max_pending=PENDING)
        self.name = self._embedder.name

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors: list[Any] = []
        for start in range(0, len(texts), PENDING):  # the worker's queue is bounded: feed it a slice at a time
            vectors.extend(await self._embedder.embed(list(texts[start:start + PENDING])))
        return np.stack([v if v is not None else np.zeros(384, dtype=np.float32) for v in vectors])

    async def aclose(self) -> None:
        await self._embedder.aclose()
