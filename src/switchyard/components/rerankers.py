"""Rerankers, through the gateway: a reranking model (``AliasReranker``: ``POST /v1/rerank``'s
operation, e.g. Cohere's rerank models), or a chat model that reads the passages and scores them.

``LLMReranker(alias=..., client=...)`` sends the query and the hits, numbered,
to a chat alias through ``switchyard.AsyncClient`` (so the alias's routing,
limits, cache and spend apply) and asks for one relevance score from 0 to 10
per passage, as JSON (``{"scores": [..]}``). Hits are sent ``batch`` at a time,
each cut to ``max_chars``; the best ``k`` by the model's scores come back (ties
keep the retriever's order). An answer that is not such JSON leaves that
batch in the retriever's order (counted in ``failures``) rather than fail the
query. The built-in ``fake/rerank`` model answers this prompt
deterministically, scoring by the words a passage shares with the query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from switchyard.components.protocols import Hit
from switchyard.core.errors import InvalidRequest

INSTRUCTIONS = ("Rate how well each passage answers the query, from 0 (unrelated) to 10 (answers it). "
                'Reply with JSON only: {"scores": [one number per passage, in order]}.')
OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def prompt(query: str, passages: Sequence[str]) -> str:
    """The reranking prompt: the query, then each passage as ``[n] text`` on its own lines."""
    numbered = "\n\n".join(f"[{n}] {' '.join(text.split())}" for n, text in enumerate(passages, start=1))
    return f"{INSTRUCTIONS}\n\nQuery: {' '.join(query.split())}\n\nPassages:\n{numbered}"


def scores_of(answer: str, count: int) -> list[float] | None:
    """The ``count`` scores of a model's answer, or None when it holds no such JSON."""
    match = OBJECT.search(answer or "")
    if match is None:
        return None
    try:
        value = json.loads(match.group(0)).get("scores")
    except (ValueError, AttributeError):
        return None
    if not isinstance(value, list) or len(value) != count:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    return [float(v) for v in value]


class _BatchReranker:
    """What both rerankers share: hits sent ``batch`` at a time (each cut to ``max_chars``) to
    an alias through ``client``, scored (``_scores``), the best ``k`` kept (ties keep the
    retriever's order)."""

    name = ""
    #: What the alias must be, for the error that names it.
    kind = "a"
    #: The largest batch allowed.
    most = 100

    def __init__(self, *, alias: str, client: Any, batch: int, max_chars: int) -> None:
        if not alias:
            raise InvalidRequest(f"the {self.name} reranker needs {self.kind} alias", param="alias")
        if client is None:
            raise InvalidRequest(f"the {self.name} reranker needs a switchyard.AsyncClient", param="client")
        if not 1 <= batch <= self.most:
            raise InvalidRequest(f"batch must be between 1 and {self.most}, got {batch}", param="batch")
        self.alias = alias
        self.client = client
        self.batch = batch
        self.max_chars = max_chars

    async def _scores(self, query: str, texts: list[str], start: int, total: int) -> list[float]:
        raise NotImplementedError

    async def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        if k < 1:
            raise InvalidRequest(f"k must be at least 1, got {k}", param="k")
        scored: list[tuple[float, int, Hit]] = []
        for start in range(0, len(hits), self.batch):
            part = hits[start:start + self.batch]
            scores = await self._scores(query, [h.chunk.text[:self.max_chars] for h in part], start, len(hits))
            scored.extend((score, start + i, hit) for i, (score, hit) in enumerate(zip(scores, part)))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [Hit(hit.chunk, score) for score, _, hit in scored[:k]]


class LLMReranker(_BatchReranker):
    """Hits re-scored by a chat alias (``client``: a ``switchyard.AsyncClient``)."""

    name = "llm"
    kind = "a chat"

    def __init__(self, *, alias: str, client: Any, batch: int = 20, max_chars: int = 1500) -> None:
        super().__init__(alias=alias, client=client, batch=batch, max_chars=max_chars)
        #: Batches whose answer could not be read (left in the retriever's order).
        self.failures = 0

    async def _scores(self, query: str, texts: list[str], start: int, total: int) -> list[float]:
        reply = await self.client.chat(model=self.alias, temperature=0,
                                       messages=[{"role": "user", "content": prompt(query, texts)}])
        scores = scores_of(reply.text, len(texts))
        if scores is None:
            self.failures += 1
            scores = [-1.0 - (start + i) / total for i in range(len(texts))]  # below any model score
        return scores


class AliasReranker(_BatchReranker):
    """Hits re-scored by a reranking alias (``client.rerank``: the gateway's rerank operation,
    so the alias's routing, limits, budgets and spend apply)."""

    name = "alias"
    kind = "a reranking"
    most = 1000

    def __init__(self, *, alias: str, client: Any, batch: int = 100, max_chars: int = 4000) -> None:
        super().__init__(alias=alias, client=client, batch=batch, max_chars=max_chars)

    async def _scores(self, query: str, texts: list[str], start: int, total: int) -> list[float]:
        answer = await self.client.rerank(model=self.alias, query=query, documents=texts)
        scores = [0.0] * len(texts)
        for result in answer.results:
            scores[int(result["index"])] = float(result["relevance_score"])
        return scores
