"""The exact in-memory index: every vector compared, in one matrix product.

Per namespace, the chunks and a float32 matrix of their unit vectors; a search
is ``matrix @ query`` and a partial sort, so its answer is exact (cosine
similarity) and its cost linear in the chunks (``bench/components.py``: 10k
chunks answer in well under a millisecond). Adds and deletes mark the matrix
stale; the next search stacks it again. A metadata filter selects the rows
before the product.

``max_chunks`` bounds what it holds (all namespaces together); beyond it an add
is refused whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from switchyard.components.embedders import Matrix, unit_rows
from switchyard.components.protocols import DEFAULT_NAMESPACE, Chunk, Filter, Hit, matches
from switchyard.core.errors import InvalidRequest

#: The most chunks an in-memory index holds, unless told otherwise.
MAX_CHUNKS = 2_000_000


def check_add(chunks: Sequence[Chunk], vectors: Any) -> Matrix:
    """``vectors`` as unit rows, after checking there is one per chunk."""
    matrix = unit_rows(vectors) if len(chunks) else np.zeros((0, 0), dtype=np.float32)
    if len(chunks) != matrix.shape[0]:
        raise InvalidRequest(f"{len(chunks)} chunks but {matrix.shape[0]} vectors", param="vectors")
    return matrix


def check_search(k: int, namespace: str) -> None:
    if k < 1:
        raise InvalidRequest(f"k must be at least 1, got {k}", param="k")
    if not namespace:
        raise InvalidRequest("namespace must not be empty", param="namespace")


def top(scores: Any, k: int) -> Any:
    """Indices of the ``k`` highest ``scores``, best first."""
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


class Space:
    """One namespace's chunks and vectors."""

    def __init__(self) -> None:
        self.chunks: dict[str, Chunk] = {}
        self.vectors: dict[str, Matrix] = {}
        self.version = 0
        self._ids: list[str] = []
        self._matrix: Matrix | None = None

    def put(self, chunk: Chunk, vector: Matrix) -> None:
        self.chunks[chunk.id] = chunk
        self.vectors[chunk.id] = vector
        self._matrix = None

    def remove(self, chunk_id: str) -> bool:
        if self.chunks.pop(chunk_id, None) is None:
            return False
        del self.vectors[chunk_id]
        self._matrix = None
        return True

    def matrix(self) -> tuple[list[str], Matrix]:
        if self._matrix is None:
            self._ids = list(self.vectors)
            rows = [self.vectors[i] for i in self._ids]
            self._matrix = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        return self._ids, self._matrix

    def search(self, query: Matrix, k: int, where: Filter | None) -> list[Hit]:
        ids, matrix = self.matrix()
        if not ids:
            return []
        if matrix.shape[1] != query.shape[0]:
            raise InvalidRequest(f"the query has {query.shape[0]} dimensions, the index {matrix.shape[1]}",
                                 param="vector")
        if where:
            rows = np.fromiter((i for i, cid in enumerate(ids) if matches(self.chunks[cid].metadata, where)),
                               dtype=np.int64)
            if rows.size == 0:
                return []
            scores = matrix[rows] @ query
            return [Hit(self.chunks[ids[rows[i]]], float(scores[i])) for i in top(scores, k)]
        scores = matrix @ query
        return [Hit(self.chunks[ids[i]], float(scores[i])) for i in top(scores, k)]


class ExactIndex:
    """Chunks and vectors in memory, searched exactly; namespaces apart."""

    name = "memory"

    def __init__(self, *, max_chunks: int = MAX_CHUNKS) -> None:
        self.max_chunks = max_chunks
        self._spaces: dict[str, Space] = {}

    def _space(self, namespace: str) -> Space:
        if not namespace:
            raise InvalidRequest("namespace must not be empty", param="namespace")
        space = self._spaces.get(namespace)
        if space is None:
            space = self._spaces[namespace] = Space()
        return space

    def __len__(self) -> int:
        return sum(len(s.chunks) for s in self._spaces.values())

    async def add(self, chunks: Sequence[Chunk], vectors: Any, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        matrix = check_add(chunks, vectors)
        space = self._space(namespace)
        new = sum(1 for c in chunks if c.id not in space.chunks)
        if len(self) + new > self.max_chunks:
            raise InvalidRequest(f"the index holds {len(self)} chunks; {new} more would pass max_chunks "
                                 f"({self.max_chunks})", param="max_chunks")
        for chunk, vector in zip(chunks, matrix):
            space.put(chunk, vector)
        space.version += 1

    async def delete(self, *, ids: Sequence[str] = (), where: Filter | None = None,
                     namespace: str = DEFAULT_NAMESPACE) -> int:
        if not ids and not where:
            raise InvalidRequest("delete needs ids or a where filter (nothing is deleted wholesale)", param="ids")
        space = self._space(namespace)
        doomed = set(ids)
        if where:
            doomed.update(cid for cid, chunk in space.chunks.items() if matches(chunk.metadata, where))
        removed = sum(1 for cid in doomed if space.remove(cid))
        if removed:
            space.version += 1
        return removed

    async def search(self, vector: Any, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                     where: Filter | None = None) -> list[Hit]:
        check_search(k, namespace)
        space = self._spaces.get(namespace)
        if space is None:
            return []
        return space.search(unit_rows(vector)[0], k, where)

    async def chunks(self, *, namespace: str = DEFAULT_NAMESPACE) -> list[Chunk]:
        space = self._spaces.get(namespace)
        return list(space.chunks.values()) if space is not None else []

    async def version(self, *, namespace: str = DEFAULT_NAMESPACE) -> int:
        space = self._spaces.get(namespace)
        return space.version if space is not None else 0

    async def aclose(self) -> None:
        self._spaces.clear()
