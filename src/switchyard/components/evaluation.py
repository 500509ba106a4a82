"""Retrieval quality: recall@k and MRR over queries whose relevant documents are known.

A query set is JSON: ``[{"query": "...", "relevant": ["doc-a.md", ...]}, ...]``,
relevant documents named as the chunks' ``source`` (the path relative to the
ingested folder). For each query the retriever's hits are read as a ranking of
documents (a document's rank is that of its best chunk);

- recall@k: the share of the query's relevant documents found in the top ``k``
  documents, averaged over the queries;
- MRR: the mean over queries of 1 / the rank of the first relevant document
  (0 when none is within the ``depth`` documents looked at).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchyard.components.protocols import Hit
from switchyard.core.errors import InvalidRequest

Search = Callable[[str, int], Awaitable[list[Hit]]]


@dataclass(frozen=True)
class Query:
    query: str
    relevant: frozenset[str]


def load_queries(path: str | Path) -> list[Query]:
    """The query set at ``path``; errors name the entry and the field."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read it ({exc.strerror or exc})", param="queries") from None
    except ValueError as exc:
        raise InvalidRequest(f"{path}: not JSON ({exc})", param="queries") from None
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest(f"{path}: a query set is a non-empty list of {{query, relevant}}", param="queries")
    queries = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise InvalidRequest(f"{path}: entry {i} needs a non-empty string query", param=f"queries.{i}.query")
        relevant = item.get("relevant")
        if not isinstance(relevant, list) or not relevant or not all(isinstance(r, str) for r in relevant):
            raise InvalidRequest(f"{path}: entry {i} needs relevant: a non-empty list of document names",
                                 param=f"queries.{i}.relevant")
        queries.append(Query(item["query"], frozenset(relevant)))
    return queries


def documents_of(hits: Sequence[Hit]) -> list[str]:
    """The hits' documents (their ``source``, else the document id), best first, each once."""
    out: list[str] = []
    for hit in hits:
        name = hit.chunk.metadata.get("source") or hit.chunk.document
        if name not in out:
            out.append(str(name))
    return out


@dataclass
class Scores:
    """recall@k for each k asked, and MRR, over ``queries`` queries."""

    recall: dict[int, float]
    mrr: float
    queries: int
    misses: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"queries": self.queries, "mrr": round(self.mrr, 4),
                **{f"recall@{k}": round(v, 4) for k, v in sorted(self.recall.items())}}


async def evaluate(search: Search, queries: Sequence[Query], *, ks: Sequence[int] = (1, 3, 5),
                   depth: int = 10, chunks: int = 50) -> Scores:
    """Scores of ``search(query, n)`` (``chunks`` hits asked, ``depth`` documents ranked) over ``queries``."""
    if not queries:
        raise InvalidRequest("no queries to evaluate", param="queries")
    if not ks or min(ks) < 1 or max(ks) > depth:
        raise InvalidRequest(f"each k must be between 1 and depth ({depth})", param="k")
    recall = dict.fromkeys(ks, 0.0)
    reciprocal = 0.0
    misses = []
    for q in queries:
        ranked = documents_of(await search(q.query, chunks))[:depth]
        for k in ks:
            recall[k] += len(q.relevant.intersection(ranked[:k])) / len(q.relevant)
        first = next((rank for rank, name in enumerate(ranked, start=1) if name in q.relevant), None)
        reciprocal += 1.0 / first if first else 0.0
        if first != 1:
            misses.append(q.query)
    n = len(queries)
    return Scores(recall={k: v / n for k, v in recall.items()}, mrr=reciprocal / n, queries=n, misses=misses)
