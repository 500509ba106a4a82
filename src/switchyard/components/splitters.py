"""Splitters: documents -> chunks, measured in the gateway's tokens.

- ``TokenSplitter``: windows of ``size`` tokens overlapping by ``overlap``
  (the gateway's tokenizer, ``core/tokens.py``: what limits and budgets count);
- ``MarkdownSplitter``: one section per heading (never inside a code fence), the
  heading path in ``metadata["heading"]`` ("Install > Docker"), a long section
  windowed as above;
- ``CodeSplitter``: source code cut between top-level blocks (a line at column 0
  after a blank line: a function, a class), blocks packed up to ``size`` tokens.

Chunk ids are ``<document id>#<n>``; a chunk keeps its document's metadata plus
``chunk`` (its number). Empty pieces are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from switchyard.components.protocols import Chunk, Document
from switchyard.core.errors import InvalidRequest
from switchyard.core.tokens import TokenCounter

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


class TokenSplitter:
    """Windows of ``size`` tokens, each starting ``size - overlap`` tokens after the last."""

    def __init__(self, *, size: int = 256, overlap: int = 32, counter: TokenCounter | None = None) -> None:
        if size < 8:
            raise InvalidRequest(f"size must be at least 8 tokens, got {size}", param="size")
        if not 0 <= overlap < size:
            raise InvalidRequest(f"overlap must be at least 0 and less than size ({size}), got {overlap}",
                                 param="overlap")
        self.size = size
        self.overlap = overlap
        self.counter = counter or TokenCounter()

    def windows(self, text: str) -> list[str]:
        """``text`` cut into windows of at most ``size`` tokens."""
        encoding = self.counter.encoding
        tokens = encoding.encode_ordinary(text)
        if len(tokens) <= self.size:
            return [text] if text.strip() else []
        step = self.size - self.overlap
        out = []
        for start in range(0, len(tokens), step):
            piece = encoding.decode(tokens[start:start + self.size]).strip()
            if piece:
                out.append(piece)
            if start + self.size >= len(tokens):
                break
        return out

    def count(self, text: str) -> int:
        return self.counter.count_text(text)

    def split(self, document: Document) -> list[Chunk]:
        return numbered(document, ((w, {}) for w in self.windows(document.text)))


class MarkdownSplitter:
    """Sections by heading; a section longer than ``size`` tokens is windowed."""

    def __init__(self, *, size: int = 256, overlap: int = 32, counter: TokenCounter | None = None) -> None:
        self.tokens = TokenSplitter(size=size, overlap=overlap, counter=counter)

    def sections(self, text: str) -> list[tuple[str, str]]:
        """``(heading path, section text)`` in order; text before the first heading has path ''."""
        path: list[tuple[int, str]] = []
        sections: list[tuple[str, list[str]]] = [("", [])]
        fenced = False
        for line in text.splitlines():
            if FENCE.match(line):
                fenced = not fenced
            match = None if fenced else HEADING.match(line)
            if match:
                level, title = len(match.group(1)), match.group(2)
                path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
                sections.append((" > ".join(t for _, t in path), [line]))
            else:
                sections[-1][1].append(line)
        out: list[tuple[str, str]] = []
        carried = ""
        for i, (heading, lines) in enumerate(sections):
            body = "\n".join(lines).strip()
            if not body:
                continue
            heading_only = bool(heading) and all(not line.strip() for line in lines[1:])
            if heading_only and i + 1 < len(sections):  # a heading with nothing under it leads the next section
                carried = f"{carried}{body}\n\n"
                continue
            out.append((heading, carried + body))
            carried = ""
        if carried:
            out.append(("", carried.strip()))
        return out

    def split(self, document: Document) -> list[Chunk]:
        pieces: list[tuple[str, dict[str, Any]]] = []
        for heading, body in self.sections(document.text):
            extra = {"heading": heading} if heading else {}
            pieces.extend((window, extra) for window in self.tokens.windows(body))
        return numbered(document, pieces)


class CodeSplitter:
    """Code cut between top-level blocks, packed up to ``size`` tokens per chunk."""

    def __init__(self, *, size: int = 256, overlap: int = 0, counter: TokenCounter | None = None) -> None:
        self.tokens = TokenSplitter(size=size, overlap=overlap, counter=counter)

    @staticmethod
    def blocks(text: str) -> list[str]:
        """Top-level blocks: a new one starts at a line at column 0 that follows a blank line."""
        blocks: list[list[str]] = [[]]
        previous_blank = False
        for line in text.splitlines():
            starts = bool(line) and not line[0].isspace() and previous_blank
            if starts and any(s.strip() for s in blocks[-1]):
                blocks.append([])
            blocks[-1].append(line)
            previous_blank = not line.strip()
        return ["\n".join(b).strip() for b in blocks if any(s.strip() for s in b)]

    def split(self, document: Document) -> list[Chunk]:
        pieces: list[str] = []
        current: list[str] = []
        for block in self.blocks(document.text):
            if current and self.tokens.count("\n\n".join([*current, block])) > self.tokens.size:
                pieces.append("\n\n".join(current))
                current = []
            if self.tokens.count(block) > self.tokens.size:
                pieces.extend(self.tokens.windows(block))
                continue
            current.append(block)
        if current:
            pieces.append("\n\n".join(current))
        return numbered(document, ((p, {}) for p in pieces))


def numbered(document: Document, pieces: Any) -> list[Chunk]:
    """Chunks ``<document id>#<n>`` of ``pieces`` (``(text, extra metadata)``)."""
    return [Chunk(id=f"{document.id}#{n}", text=text, document=document.id,
                  metadata={**document.metadata, **extra, "chunk": n})
            for n, (text, extra) in enumerate(pieces)]
