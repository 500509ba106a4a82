"""The keyword retriever: BM25 over the chunks an index holds (bm25s).

bm25s (a maintained BM25 in numpy/scipy sparse matrices) scores the query's
words against every chunk of the namespace. The word index is built from the
vector index's own chunks — one store, no second copy to keep in step — and
rebuilt when the index's ``version`` for that namespace changes, so a chunk
added or deleted by any process is found (or no longer found) by the next
query. English stop words are dropped; a metadata filter masks the scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from switchyard.components.index_memory import check_search, top
from switchyard.components.protocols import DEFAULT_NAMESPACE, Chunk, Filter, Hit, matches
from switchyard.core.errors import InvalidRequest


class Words:
    """One namespace's BM25 model at one version of the index."""

    def __init__(self, chunks: list[Chunk], version: int, stopwords: str | None) -> None:
        import bm25s

        self.chunks = chunks
        self.version = version
        self.model: Any = None
        if chunks:
            tokens = bm25s.tokenize([c.text for c in chunks], stopwords=stopwords, show_progress=False)
            self.model = bm25s.BM25()
            self.model.index(tokens, show_progress=False)


class BM25Retriever:
    """Query words -> the chunks of ``index`` that BM25 scores highest (only those scoring above 0)."""

    name = "bm25"

    def __init__(self, *, index: Any, stopwords: str | None = "en", max_namespaces: int = 64) -> None:
        if index is None:
            raise InvalidRequest("the bm25 retriever needs an index (its chunks are what it searches)",
                                 param="index")
        self.index = index
        self.stopwords = stopwords
        self.max_namespaces = max_namespaces
        self._words: dict[str, Words] = {}

    async def _model(self, namespace: str) -> Words:
        version = await self.index.version(namespace=namespace)
        words = self._words.get(namespace)
        if words is None or words.version != version:
            import asyncio

            chunks = await self.index.chunks(namespace=namespace)
            words = await asyncio.to_thread(Words, chunks, version, self.stopwords)
            self._words.pop(namespace, None)
            while len(self._words) >= self.max_namespaces:  # bounded: the least recently built goes
                self._words.pop(next(iter(self._words)))
            self._words[namespace] = words
        return words

    async def retrieve(self, query: str, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                       where: Filter | None = None) -> list[Hit]:
        check_search(k, namespace)
        import bm25s

        words = await self._model(namespace)
        if words.model is None:
            return []
        terms = bm25s.tokenize([query], stopwords=self.stopwords, return_ids=False, show_progress=False)[0]
        if not terms:
            return []
        scores = np.asarray(words.model.get_scores(terms), dtype=np.float32)
        if where:
            allowed = np.fromiter((matches(c.metadata, where) for c in words.chunks), dtype=bool,
                                  count=len(words.chunks))
            scores = np.where(allowed, scores, 0.0)
        return [Hit(words.chunks[i], float(scores[i])) for i in top(scores, k) if scores[i] > 0]
