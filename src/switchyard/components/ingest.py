"""Ingestion: a loader's documents, split, embedded and indexed — each file once.

``Ingestion(loader, splitter, embedder, index).run(path)`` reads the source
(a folder, through the directory walker, or one file), and for each file
compares the ``sha256`` its documents carry with the one its chunks in the index
carry: the same, the file is left alone (no split, no embedding call); changed,
its old chunks are deleted and the new ones added (in one transaction by an index that
has ``replace(where, chunks, vectors)``, as the SQL one); new, added. With ``prune``,
the chunks of files no longer found under the folder are deleted too. Chunks are
embedded ``batch`` at a time. ``progress(report)`` is called after each file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from switchyard.components.protocols import DEFAULT_NAMESPACE, Chunk, Document
from switchyard.core.errors import InvalidRequest


@dataclass
class IngestReport:
    """What one run did, file by file (``sources`` are as the loader named them)."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0
    #: Files the walk found that no loader reads.
    skipped: list[str] = field(default_factory=list)
    #: Files seen so far (for a progress bar; ``total`` is known for a folder).
    done: int = 0
    total: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "replaced": self.replaced, "unchanged": self.unchanged,
                "removed": self.removed, "chunks": self.chunks, "skipped": self.skipped}


async def by_source(documents: AsyncIterator[Document]) -> AsyncIterator[list[Document]]:
    """Consecutive documents of one source, together."""
    group: list[Document] = []
    async for document in documents:
        if group and group[0].source != document.source:
            yield group
            group = []
        group.append(document)
    if group:
        yield group


class Ingestion:
    """loader -> splitter -> embedder -> index, with change detection by file hash."""

    def __init__(self, *, loader: Any, splitter: Any, embedder: Any, index: Any, batch: int = 64) -> None:
        if not 1 <= batch <= 4096:
            raise InvalidRequest(f"batch must be between 1 and 4096, got {batch}", param="batch")
        self.loader = loader
        self.splitter = splitter
        self.embedder = embedder
        self.index = index
        self.batch = batch

    async def known(self, namespace: str) -> dict[str, str]:
        """``{source: sha256}`` of the files the index holds chunks of."""
        held: dict[str, str] = {}
        for chunk in await self.index.chunks(namespace=namespace):
            source = chunk.metadata.get("source")
            if isinstance(source, str):
                held[source] = str(chunk.metadata.get("sha256", ""))
        return held

    async def run(self, path: str, *, namespace: str = DEFAULT_NAMESPACE, prune: bool = False,
                  progress: Callable[[IngestReport], None] | None = None) -> IngestReport:
        if not namespace:
            raise InvalidRequest("namespace must not be empty", param="namespace")
        report = IngestReport()
        files = getattr(self.loader, "files", None)
        if files is not None:
            from pathlib import Path

            report.total = len(files(Path(path)))
        known = await self.known(namespace)
        seen: set[str] = set()
        async for documents in by_source(self.loader.load(path)):
            source = documents[0].source
            seen.add(source)
            digest = str(documents[0].metadata.get("sha256", ""))
            before = known.get(source)
            if before is not None and digest and before == digest:
                report.unchanged.append(source)
            else:
                chunks = [c for d in documents for c in self.splitter.split(d)]
                vectors = [row for start in range(0, len(chunks), self.batch)
                           for row in await self.embedder.embed([c.text for c in chunks[start:start + self.batch]])]
                replace = getattr(self.index, "replace", None)
                if before is not None and replace is not None:  # one transaction: old chunks or new, never both
                    await replace({"source": source}, chunks, vectors, namespace=namespace)
                else:
                    if before is not None:
                        await self.index.delete(where={"source": source}, namespace=namespace)
                    if chunks:
                        await self.index.add(chunks, vectors, namespace=namespace)
                (report.replaced if before is not None else report.added).append(source)
                report.chunks += len(chunks)
            report.done += 1
            if progress is not None:
                progress(report)
        report.skipped = list(getattr(self.loader, "skipped", []))
        if prune:
            for source in sorted(set(known) - seen):
                await self.index.delete(where={"source": source}, namespace=namespace)
                report.removed.append(source)
        return report

    async def add(self, documents: list[Document], *, namespace: str = DEFAULT_NAMESPACE) -> list[Chunk]:
        """Split, embed and index ``documents`` as they are (no change detection)."""
        chunks = [c for d in documents for c in self.splitter.split(d)]
        if chunks:
            vectors = [row for start in range(0, len(chunks), self.batch)
                       for row in await self.embedder.embed([c.text for c in chunks[start:start + self.batch]])]
            await self.index.add(chunks, vectors, namespace=namespace)
        return chunks
