"""The answer step: retrieve, (rerank,) prompt, ask a model through the gateway, cite.

``Answerer.ask(question)`` retrieves ``fetch`` hits, lets the reranker (if any)
keep the best ``k``, numbers them as sources ``[1]..[k]`` in the prompt, and asks
the chat alias through ``switchyard.AsyncClient`` — every gateway policy applies.
The answer's ``citations`` are the sources its text cites (``[n]``), in the order
first cited; when the model cites none, every source given is listed (the answer
was written from them). Each citation names the chunk, its document and source,
and where in it (``page``, ``heading``) when the loader knew.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from switchyard.components.protocols import DEFAULT_NAMESPACE, Filter, Hit
from switchyard.core.errors import InvalidRequest

SYSTEM = ("Answer the question from the numbered sources only. Cite the sources you use as [n]. "
          "If they do not hold the answer, say so.")
CITED = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Citation:
    """A source the answer used: its number in the prompt and the chunk."""

    n: int
    hit: Hit

    def to_json(self) -> dict[str, Any]:
        meta = self.hit.chunk.metadata
        out = {"n": self.n, **self.hit.to_json(), "source": meta.get("source")}
        for key in ("page", "heading", "title"):
            if key in meta:
                out[key] = meta[key]
        return out


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]
    sources: list[Hit]

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.text, "citations": [c.to_json() for c in self.citations]}


def prompt(question: str, hits: Sequence[Hit]) -> str:
    blocks = []
    for n, hit in enumerate(hits, start=1):
        where = hit.chunk.metadata.get("source") or hit.chunk.document
        blocks.append(f"[{n}] ({where})\n{hit.chunk.text}")
    return "Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"


def citations(text: str, hits: Sequence[Hit]) -> list[Citation]:
    order: list[int] = []
    for match in CITED.finditer(text or ""):
        n = int(match.group(1))
        if 1 <= n <= len(hits) and n not in order:
            order.append(n)
    if not order:
        order = list(range(1, len(hits) + 1))
    return [Citation(n, hits[n - 1]) for n in order]


class Answerer:
    """question -> retriever (-> reranker) -> prompt -> chat alias -> answer with citations."""

    def __init__(self, *, retriever: Any, client: Any, alias: str, reranker: Any = None, k: int = 4,
                 fetch: int = 20, system: str = SYSTEM, max_tokens: int | None = None) -> None:
        if not alias:
            raise InvalidRequest("the answer step needs a chat alias", param="answer.alias")
        if k < 1 or fetch < k:
            raise InvalidRequest(f"k must be at least 1 and fetch at least k (k={k}, fetch={fetch})",
                                 param="answer.k")
        self.retriever = retriever
        self.reranker = reranker
        self.client = client
        self.alias = alias
        self.k = k
        self.fetch = fetch
        self.system = system
        self.max_tokens = max_tokens

    async def sources(self, question: str, *, namespace: str = DEFAULT_NAMESPACE,
                      where: Filter | None = None, k: int | None = None) -> list[Hit]:
        """The hits the answer is written from (retrieved, then reranked)."""
        k = k or self.k
        if self.reranker is None:
            hits: list[Hit] = await self.retriever.retrieve(question, k, namespace=namespace, where=where)
            return hits
        hits = await self.retriever.retrieve(question, max(self.fetch, k), namespace=namespace, where=where)
        reranked: list[Hit] = await self.reranker.rerank(question, hits, k)
        return reranked

    async def ask(self, question: str, *, namespace: str = DEFAULT_NAMESPACE, where: Filter | None = None,
                  k: int | None = None) -> Answer:
        if not question.strip():
            raise InvalidRequest("the question is empty", param="question")
        hits = await self.sources(question, namespace=namespace, where=where, k=k)
        params = {"max_tokens": self.max_tokens} if self.max_tokens else {}
        reply = await self.client.chat(model=self.alias, messages=[
            {"role": "system", "content": self.system},
            {"role": "user", "content": prompt(question, hits)}], **params)
        text = reply.text
        return Answer(text=text, citations=citations(text, hits), sources=hits)
