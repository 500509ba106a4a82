"""Retrievers: by vector, and hybrid by reciprocal rank fusion (BM25 is in ``bm25.py``).

``VectorRetriever`` embeds the query with its embedder and searches its index.
``HybridRetriever`` asks each of its retrievers for ``depth`` hits and fuses
the rankings by reciprocal rank fusion (Cormack et al., 2009): a chunk scores
``sum(weight / (c + rank))`` over the rankings it appears in, ``c = 60`` by
default. RRF needs no score calibration between retrievers whose scales have
nothing in common (a cosine and a BM25 sum), which is why it is the fusion here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from switchyard.components.index_memory import check_search
from switchyard.components.protocols import DEFAULT_NAMESPACE, Chunk, Filter, Hit
from switchyard.core.errors import InvalidRequest


class VectorRetriever:
    """The query's embedding -> the index's nearest chunks (cosine similarity)."""

    name = "vector"

    def __init__(self, *, embedder: Any, index: Any) -> None:
        if embedder is None or index is None:
            raise InvalidRequest("the vector retriever needs an embedder and an index", param="retriever")
        self.embedder = embedder
        self.index = index

    async def retrieve(self, query: str, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                       where: Filter | None = None) -> list[Hit]:
        check_search(k, namespace)
        vectors = await self.embedder.embed([query])
        hits: list[Hit] = await self.index.search(vectors[0], k, namespace=namespace, where=where)
        return hits


class HybridRetriever:
    """Several retrievers' rankings fused by reciprocal rank fusion."""

    name = "hybrid"

    def __init__(self, *, retrievers: Sequence[Any], weights: Sequence[float] | None = None, c: int = 60,
                 depth: int = 50) -> None:
        if len(retrievers) < 2:
            raise InvalidRequest("the hybrid retriever fuses at least two retrievers", param="retrievers")
        if weights is not None and len(weights) != len(retrievers):
            raise InvalidRequest(f"{len(weights)} weights for {len(retrievers)} retrievers", param="weights")
        if c < 1 or depth < 1:
            raise InvalidRequest("c and depth must be at least 1", param="c" if c < 1 else "depth")
        self.retrievers = list(retrievers)
        self.weights = list(weights) if weights is not None else [1.0] * len(retrievers)
        self.c = c
        self.depth = depth

    async def retrieve(self, query: str, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                       where: Filter | None = None) -> list[Hit]:
        check_search(k, namespace)
        depth = max(k, self.depth)
        rankings = await asyncio.gather(*(r.retrieve(query, depth, namespace=namespace, where=where)
                                          for r in self.retrievers))
        return fuse(rankings, self.weights, self.c)[:k]


def fuse(rankings: Sequence[Sequence[Hit]], weights: Sequence[float], c: int = 60) -> list[Hit]:
    """Reciprocal rank fusion of ``rankings`` (each best first), best first; ties keep first-seen order."""
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, hit in enumerate(ranking, start=1):
            cid = hit.chunk.id
            chunks.setdefault(cid, hit.chunk)
            scores[cid] = scores.get(cid, 0.0) + weight / (c + rank)
    order = sorted(scores, key=lambda cid: -scores[cid])
    return [Hit(chunks[cid], scores[cid]) for cid in order]
