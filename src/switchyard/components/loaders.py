"""Loaders of one file each: text, Markdown, HTML (main text), PDF, CSV and JSON lines.

Each reads a path and yields documents whose metadata holds ``source`` (the
path as given), ``sha256`` (of the file's bytes: what change detection compares)
and ``loader``. A file a loader cannot parse is ``InvalidRequest`` naming the
file and the reason, never a partial document. Parsing is the libraries' work:
``pypdf`` for PDF, ``trafilatura`` for the main text of an HTML page (menus,
footers and scripts dropped), ``csv`` and ``json`` from the standard library;
the blocking parts run in a worker thread.

A loader takes ``extensions`` (what ``accepts``) and ``max_bytes`` (a bigger file
is refused, not read).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from switchyard.components.protocols import Document
from switchyard.core.errors import InvalidRequest

#: A file larger than this is refused (64 MiB), unless the loader is told otherwise.
MAX_BYTES = 64 * 1024 * 1024


class FileLoader:
    """Reads one file into documents; subclasses parse (``parse``, run in a thread)."""

    name: ClassVar[str] = "text"
    default_extensions: ClassVar[tuple[str, ...]] = (".txt",)

    def __init__(self, *, extensions: Sequence[str] | None = None, max_bytes: int = MAX_BYTES,
                 encoding: str = "utf-8") -> None:
        if max_bytes <= 0:
            raise InvalidRequest(f"max_bytes must be positive, got {max_bytes}", param="max_bytes")
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}"
                                for e in (extensions or self.default_extensions))
        self.max_bytes = max_bytes
        self.encoding = encoding

    def accepts(self, source: str) -> bool:
        return Path(source).suffix.lower() in self.extensions

    async def load(self, source: str) -> AsyncIterator[Document]:
        for document in await self.read(Path(source), source):
            yield document

    async def read(self, path: Path, source: str) -> list[Document]:
        """The documents of the file at ``path``, named ``source`` (ids and metadata)."""
        return await asyncio.to_thread(self._read, path, source)

    def _read(self, path: Path, source: str) -> list[Document]:
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise InvalidRequest(f"{source}: {size} bytes, more than the loader's max_bytes ({self.max_bytes})",
                                     param="source")
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidRequest(f"{source}: cannot read it ({exc.strerror or exc})", param="source") from None
        base = {"source": source, "sha256": hashlib.sha256(data).hexdigest(), "loader": self.name}
        try:
            parts = list(self.parse(data, source))
        except InvalidRequest:
            raise
        except Exception as exc:  # a parser's own error: the file is bad, say which and why
            raise InvalidRequest(f"{source}: not a readable {self.name} file ({type(exc).__name__}: {exc})",
                                 param="source") from None
        return [Document(id=source if suffix is None else f"{source}#{suffix}", text=text, source=source,
                         metadata={**base, **extra})
                for suffix, text, extra in parts if text.strip()]

    def text_of(self, data: bytes, source: str) -> str:
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"{source}: not {self.encoding} text (byte {exc.start})", param="source") from None

    def parse(self, data: bytes, source: str) -> Iterable[tuple[str | None, str, dict[str, Any]]]:
        """``(id suffix or None, text, extra metadata)`` per document of the file."""
        yield None, self.text_of(data, source), {}


class TextLoader(FileLoader):
    """Plain text, one document per file."""


class MarkdownLoader(FileLoader):
    """Markdown, one document per file; the first ``# heading`` becomes its ``title``."""

    name = "markdown"
    default_extensions = (".md", ".markdown")

    def parse(self, data: bytes, source: str) -> Iterable[tuple[str | None, str, dict[str, Any]]]:
        text = self.text_of(data, source)
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), None)
        yield None, text, ({"title": title} if title else {})


class HtmlLoader(FileLoader):
    """An HTML page's main text (trafilatura: boilerplate, menus and scripts dropped) and title."""

    name = "html"
    default_extensions = (".html", ".htm")

    def parse(self, data: bytes, source: str) -> Iterable[tuple[str | None, str, dict[str, Any]]]:
        import trafilatura

        html = self.text_of(data, source)
        text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True) or ""
        meta = trafilatura.extract_metadata(html)
        title = getattr(meta, "title", None) if meta is not None else None
        yield None, text, ({"title": title} if title else {})


class PdfLoader(FileLoader):
    """A PDF's text (pypdf), one document per page (``page``, from 1) so citations name the page."""

    name = "pdf"
    default_extensions = (".pdf",)

    def parse(self, data: bytes, source: str) -> Iterable[tuple[str | None, str, dict[str, Any]]]:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        title = reader.metadata.title if reader.metadata is not None else None
        for number, page in enumerate(reader.pages, start=1):
            extra: dict[str, Any] = {"page": number}
            if title:
                extra["title"] = str(title)
            yield f"p{number}", page.extract_text() or "", extra


class CsvLoader(FileLoader):
    """A CSV file with a header, one document per row: ``text_columns`` joined (default: every
    column, as ``name: value`` lines); the other columns become metadata."""

    name = "csv"
    default_extensions = (".csv",)

    def __init__(self, *, text_columns: Sequence[str] | None = None, id_column: str | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self.text_columns = tuple(text_columns) if text_columns else None
        self.id_column = id_column

    def parse(self, data: bytes, source: str) -> Iterable[tuple[str | None, str, dict[str, Any]]]:
        reader = csv.DictReader(io.StringIO(self.text_of(data, source)))
        columns = reader.fieldnames or []
        for wanted in (*(self.text_columns or ()), *([self.id_column] if self.id_column else [])):
            if wanted not in columns:
                raise InvalidRequest(f"{source}: no column {wanted!r} (columns: {', '.join(columns)})",
                                     param="text_columns")
        for number, row in enumerate(reader, start=1):
            shown = self.text_columns or columns
            text = "\n".join(f"{c}: {row.get(c) or ''}" for c in shown) if not self.text_columns else \
                "\n".join(row.get(c) or "" for c in shown)
            extra = {k: v for k, v in row.items() if k not in shown and isinstance(k, str)}
            suffix = str(row[self.id_column]) if self.id_column else f"row{number}"
            yield suffix, text, extra


class JsonLinesLoader(FileLoader):
    """JSON lines, one document per line: the ``text_field`` string; the other fields become metadata."""

    name = "jsonl"
    default_extensions = (".jsonl", ".ndjson")

    def __init__(self, *, text_field: str = "text", id_field: str | None = "id", **options: Any) -> None:
        super().__init__(**options)
        self.text_field = text_field
        self.id_field = id_field

    def parse(self, data: bytes, source: str) -> Iterable[tuple[str | None, str, dict[str, Any]]]:
        for number, line in enumerate(self.text_of(data, source).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise InvalidRequest(f"{source}: line {number} is not JSON ({exc})", param="source") from None
            if not isinstance(record, dict) or not isinstance(record.get(self.text_field), str):
                raise InvalidRequest(f"{source}: line {number} has no string field {self.text_field!r}",
                                     param="text_field")
            ident = record.get(self.id_field) if self.id_field else None
            extra = {k: v for k, v in record.items() if k not in (self.text_field, self.id_field)
                     and isinstance(v, (str, int, float, bool))}
            yield (str(ident) if ident is not None else f"line{number}"), record[self.text_field], extra
