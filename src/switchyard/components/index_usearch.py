"""The approximate in-memory index: an HNSW graph per namespace (usearch).

usearch (Unum's HNSW in C++, with Python bindings and SIMD distance kernels)
answers a search in logarithmic time instead of comparing every vector, at a
small cost in recall (``bench/components.py`` measures both). Each namespace has
its own graph, so a tenant's search never walks another's vectors. Chunks are
kept beside the graph under integer keys; a replaced or deleted chunk's key is
removed from the graph.

A metadata filter is applied to the graph's answers: the search asks for
``k * oversample`` neighbours, then more (up to every vector of the namespace)
while fewer than ``k`` pass the filter — so a selective filter costs up to an
exact scan, never a short answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from typing import Any

from switchyard.components.embedders import unit_rows
from switchyard.components.index_memory import MAX_CHUNKS, check_add, check_search
from switchyard.components.protocols import DEFAULT_NAMESPACE, Chunk, Filter, Hit, matches
from switchyard.core.errors import InvalidRequest


class Graph:
    """One namespace: the usearch index and its chunks by key."""

    def __init__(self, ndim: int, options: dict[str, Any]) -> None:
        from usearch.index import Index

        self.index = Index(ndim=ndim, metric="cos", dtype="f32", **options)
        self.ndim = ndim
        self.keys: dict[str, int] = {}
        self.chunks: dict[int, Chunk] = {}
        self.version = 0


class UsearchIndex:
    """Chunks in per-namespace HNSW graphs (usearch), searched approximately."""

    name = "usearch"

    def __init__(self, *, connectivity: int = 16, expansion_add: int = 128, expansion_search: int = 64,
                 oversample: int = 4, max_chunks: int = MAX_CHUNKS) -> None:
        if oversample < 1:
            raise InvalidRequest(f"oversample must be at least 1, got {oversample}", param="oversample")
        self.options = {"connectivity": connectivity, "expansion_add": expansion_add,
                        "expansion_search": expansion_search}
        self.oversample = oversample
        self.max_chunks = max_chunks
        self._graphs: dict[str, Graph] = {}
        self._keys = count(1)

    def __len__(self) -> int:
        return sum(len(g.chunks) for g in self._graphs.values())

    async def add(self, chunks: Sequence[Chunk], vectors: Any, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        matrix = check_add(chunks, vectors)
        if not chunks:
            return
        if not namespace:
            raise InvalidRequest("namespace must not be empty", param="namespace")
        graph = self._graphs.get(namespace)
        if graph is None:
            graph = self._graphs[namespace] = Graph(matrix.shape[1], self.options)
        if matrix.shape[1] != graph.ndim:
            raise InvalidRequest(f"the vectors have {matrix.shape[1]} dimensions, the index {graph.ndim}",
                                 param="vectors")
        new = sum(1 for c in chunks if c.id not in graph.keys)
        if len(self) + new > self.max_chunks:
            raise InvalidRequest(f"the index holds {len(self)} chunks; {new} more would pass max_chunks "
                                 f"({self.max_chunks})", param="max_chunks")
        last = {chunk.id: row for row, chunk in enumerate(chunks)}  # a chunk given twice: its last vector
        stale = [graph.keys[cid] for cid in last if cid in graph.keys]
        if stale:
            graph.index.remove(stale)
            for key in stale:
                del graph.chunks[key]
        keys = []
        for cid, row in last.items():
            key = next(self._keys)
            graph.keys[cid] = key
            graph.chunks[key] = chunks[row]
            keys.append(key)
        import numpy as np

        graph.index.add(np.asarray(keys, dtype=np.uint64), matrix[list(last.values())])
        graph.version += 1

    async def delete(self, *, ids: Sequence[str] = (), where: Filter | None = None,
                     namespace: str = DEFAULT_NAMESPACE) -> int:
        if not ids and not where:
            raise InvalidRequest("delete needs ids or a where filter (nothing is deleted wholesale)", param="ids")
        graph = self._graphs.get(namespace)
        if graph is None:
            return 0
        doomed = {cid for cid in ids if cid in graph.keys}
        if where:
            doomed.update(c.id for c in graph.chunks.values() if matches(c.metadata, where))
        if not doomed:
            return 0
        keys = [graph.keys.pop(cid) for cid in doomed]
        graph.index.remove(keys)
        for key in keys:
            del graph.chunks[key]
        graph.version += 1
        return len(keys)

    async def search(self, vector: Any, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                     where: Filter | None = None) -> list[Hit]:
        check_search(k, namespace)
        graph = self._graphs.get(namespace)
        if graph is None or not graph.chunks:
            return []
        query = unit_rows(vector)[0]
        if query.shape[0] != graph.ndim:
            raise InvalidRequest(f"the query has {query.shape[0]} dimensions, the index {graph.ndim}",
                                 param="vector")
        size = len(graph.chunks)
        wanted = min(size, k * (self.oversample if where else 1))
        while True:
            found = graph.index.search(query, wanted)
            hits = []
            for key, distance in zip(found.keys, found.distances):
                chunk = graph.chunks.get(int(key))
                if chunk is not None and matches(chunk.metadata, where):
                    hits.append(Hit(chunk, 1.0 - float(distance)))
            if len(hits) >= k or wanted >= size:
                return hits[:k]
            wanted = min(size, wanted * 4)

    async def chunks(self, *, namespace: str = DEFAULT_NAMESPACE) -> list[Chunk]:
        graph = self._graphs.get(namespace)
        return list(graph.chunks.values()) if graph is not None else []

    async def version(self, *, namespace: str = DEFAULT_NAMESPACE) -> int:
        graph = self._graphs.get(namespace)
        return graph.version if graph is not None else 0

    async def aclose(self) -> None:
        self._graphs.clear()
