"""The values components pass along, and one small protocol per role.

::

    source --Loader--> Document --Splitter--> Chunk --Embedder--> vector
                                                 \\                  |
                                                  +----> Index <----+   (add / delete / search)
    query --Retriever--> [Hit] --Reranker--> [Hit]

A ``Document`` is what a loader read (its ``source`` names where from, e.g. a
path; ``metadata`` carries what the loader knew). A ``Chunk`` is the unit that is
embedded, stored and cited: ``id`` is stable (``source#n``), ``document`` is its
document's id. An ``Index`` keeps chunks and their vectors apart per
``namespace`` (a tenant): nothing is ever found across namespaces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Equality filters on chunk metadata: every key must equal (or, for a list, be one of) the value.
Filter = Mapping[str, Any]

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class Document:
    """A source read whole: its text, where it came from and what the loader knew of it."""

    id: str
    text: str
    source: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document: what is embedded, indexed, retrieved and cited."""

    id: str
    text: str
    document: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk found for a query, with its score (higher is better; scales differ per retriever)."""

    chunk: Chunk
    score: float

    def to_json(self) -> dict[str, Any]:
        chunk = self.chunk
        return {"id": chunk.id, "document": chunk.document, "text": chunk.text,
                "metadata": dict(chunk.metadata), "score": round(float(self.score), 6)}


@runtime_checkable
class Loader(Protocol):
    """A source (a path) -> documents. ``accepts`` says whether it reads that source."""

    def accepts(self, source: str) -> bool: ...

    def load(self, source: str) -> AsyncIterator[Document]: ...


@runtime_checkable
class Splitter(Protocol):
    """Documents -> chunks (ids ``<document id>#<n>``, metadata inherited)."""

    def split(self, document: Document) -> list[Chunk]: ...


@runtime_checkable
class Embedder(Protocol):
    """Texts -> a float32 matrix (numpy), one unit row per text, batched as the embedder likes."""

    name: str

    async def embed(self, texts: Sequence[str]) -> Any: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Index(Protocol):
    """Chunks and their vectors, per namespace; search by vector with metadata filters.

    ``add`` replaces a chunk of the same id (vectors: one row per chunk); ``delete``
    removes chunks by id or by metadata filter (``{"source": path}``: a file's); ``chunks`` lists what a namespace holds (a keyword
    retriever builds on it) and ``version`` changes whenever that does.
    """

    async def add(self, chunks: Sequence[Chunk], vectors: Any, *,
                  namespace: str = DEFAULT_NAMESPACE) -> None: ...

    async def delete(self, *, ids: Sequence[str] = (), where: Filter | None = None,
                     namespace: str = DEFAULT_NAMESPACE) -> int: ...

    async def search(self, vector: Any, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                     where: Filter | None = None) -> list[Hit]: ...

    async def chunks(self, *, namespace: str = DEFAULT_NAMESPACE) -> list[Chunk]: ...

    async def version(self, *, namespace: str = DEFAULT_NAMESPACE) -> int: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Retriever(Protocol):
    """A query -> the best ``k`` chunks, scored."""

    async def retrieve(self, query: str, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                       where: Filter | None = None) -> list[Hit]: ...


@runtime_checkable
class Reranker(Protocol):
    """A query and hits -> the best ``k`` of them, re-scored."""

    async def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]: ...


def matches(metadata: Mapping[str, Any], where: Filter | None) -> bool:
    """Whether ``metadata`` passes the equality filter ``where``."""
    if not where:
        return True
    for key, wanted in where.items():
        value = metadata.get(key)
        if isinstance(wanted, (list, tuple, set, frozenset)):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True
