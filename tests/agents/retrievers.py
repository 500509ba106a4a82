"""A retriever of the components' protocol over a few chunks, by shared words (for tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


class WordRetriever:
    """The components' Retriever protocol over a few chunks, by shared words (for tests)."""

    def __init__(self, chunks: dict[str, list[Chunk]]) -> None:
        self.chunks = chunks  # namespace -> chunks
        self.asked: list[tuple[str, str, Any]] = []

    async def retrieve(self, query: str, k: int, *, namespace: str = "default",
                       where: Mapping[str, Any] | None = None) -> Sequence[Hit]:
        self.asked.append((query, namespace, where))
        words = set(query.lower().split())
        hits = [Hit(c, len(words & set(c.text.lower().split())) / len(words)) for c in self.chunks.get(namespace, [])
                if all(c.metadata.get(key) == value for key, value in (where or {}).items())]
        return sorted((h for h in hits if h.score > 0), key=lambda h: -h.score)[:k]
