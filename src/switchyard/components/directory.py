"""The directory walker: every file under a folder that a glob selects, read by the
loader of its kind.

``DirectoryLoader(include=["**/*.md", "**/*.pdf"], exclude=[...])`` walks in
sorted order (runs are reproducible) and hands each file to the first loader
that ``accepts`` it (by default the built-in text, Markdown, HTML, PDF, CSV and
JSON-lines loaders); files no loader reads are skipped and counted in
``skipped``. A document's ``source`` is its path relative to the folder (POSIX
separators), so ids are the same on every machine that ingests the folder.

Change detection lives in ingestion (``ingest.py``): each document carries the
``sha256`` of its file, an unchanged file is not split nor embedded again, a
changed one replaces its chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from switchyard.components.loaders import (
    CsvLoader,
    FileLoader,
    HtmlLoader,
    JsonLinesLoader,
    MarkdownLoader,
    PdfLoader,
    TextLoader,
)
from switchyard.components.protocols import Document
from switchyard.core.errors import InvalidRequest

#: The most files one walk reads; beyond, the walk is refused rather than run for hours.
MAX_FILES = 100_000


def default_loaders() -> list[FileLoader]:
    return [MarkdownLoader(), TextLoader(), HtmlLoader(), PdfLoader(), CsvLoader(), JsonLinesLoader()]


class DirectoryLoader:
    """Files under a directory -> their documents (``source`` relative to the directory)."""

    name = "directory"

    def __init__(self, *, include: Sequence[str] = ("**/*",), exclude: Sequence[str] = (),
                 loaders: Sequence[Any] | None = None, max_files: int = MAX_FILES) -> None:
        if not include:
            raise InvalidRequest("include must name at least one glob", param="include")
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.loaders = list(loaders) if loaders is not None else default_loaders()
        self.max_files = max_files
        #: Files the last walk found but no loader reads.
        self.skipped: list[str] = []

    def accepts(self, source: str) -> bool:
        return Path(source).is_dir()

    def files(self, root: Path) -> list[Path]:
        """The files the globs select under ``root``, sorted, hidden ones left out."""
        if not root.is_dir():
            raise InvalidRequest(f"{root}: not a directory", param="path")
        found: set[Path] = set()
        for pattern in self.include:
            for path in root.glob(pattern):
                relative = path.relative_to(root)
                if not path.is_file() or any(part.startswith(".") for part in relative.parts):
                    continue
                if any(relative.match(x) or path.match(x) for x in self.exclude):
                    continue
                found.add(path)
                if len(found) > self.max_files:
                    raise InvalidRequest(f"{root}: more than {self.max_files} files match; narrow include "
                                         f"or raise max_files", param="max_files")
        return sorted(found)

    def loader_for(self, path: Path) -> Any | None:
        return next((loader for loader in self.loaders if loader.accepts(str(path))), None)

    async def load(self, source: str) -> AsyncIterator[Document]:
        root = Path(source)
        self.skipped = []
        for path in self.files(root):
            loader = self.loader_for(path)
            relative = path.relative_to(root).as_posix()
            if loader is None:
                self.skipped.append(relative)
                continue
            reader = getattr(loader, "read", None)
            if reader is not None:
                documents = await reader(path, relative)
                for document in documents:
                    yield document
            else:  # a third-party loader: it names its documents itself
                async for document in loader.load(str(path)):
                    yield document
