"""Splitters: token windows with overlap, Markdown sections by heading, code by top-level block."""

from __future__ import annotations

import pytest

from switchyard.components.protocols import Document, Splitter
from switchyard.components.splitters import CodeSplitter, MarkdownSplitter, TokenSplitter
from switchyard.core.errors import InvalidRequest
from switchyard.core.tokens import TokenCounter

COUNTER = TokenCounter()


def doc(text: str) -> Document:
    return Document(id="d.md", text=text, source="d.md", metadata={"source": "d.md", "sha256": "x"})


def test_token_windows_overlap_and_stay_within_size() -> None:
    text = " ".join(f"word{i}" for i in range(600))
    splitter = TokenSplitter(size=100, overlap=20, counter=COUNTER)
    assert isinstance(splitter, Splitter)
    chunks = splitter.split(doc(text))
    assert len(chunks) > 5
    assert all(COUNTER.count_text(c.text) <= 100 for c in chunks)
    assert [c.id for c in chunks[:2]] == ["d.md#0", "d.md#1"]
    assert chunks[1].metadata == {"source": "d.md", "sha256": "x", "chunk": 1}
    tail = chunks[0].text.split()[-3:]
    assert all(word in chunks[1].text for word in tail)  # the overlap carries the end of one into the next
    assert "word599" in chunks[-1].text and "word0" in chunks[0].text
    assert TokenSplitter(size=100, counter=COUNTER).split(doc("short")) [0].text == "short"
    assert TokenSplitter(size=100, counter=COUNTER).split(doc("   ")) == []


@pytest.mark.parametrize(("options", "param"), [({"size": 4}, "size"), ({"size": 50, "overlap": 50}, "overlap")])
def test_bad_sizes_are_refused(options: dict[str, int], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        TokenSplitter(**options)
    assert caught.value.param == param


def test_markdown_sections_carry_their_heading_path_and_fences_are_not_headings() -> None:
    text = "preface\n\n# Install\n\nintro\n\n## Docker\n\nrun it\n\n```sh\n# not a heading\ndocker run x\n```\n\n# Use\n\nask"
    chunks = MarkdownSplitter(size=200, counter=COUNTER).split(doc(text))
    assert [c.metadata.get("heading") for c in chunks] == [None, "Install", "Install > Docker", "Use"]
    assert "# not a heading" in chunks[2].text and chunks[2].text.startswith("## Docker")
    long = "# Big\n\n" + " ".join(["lorem"] * 900)
    parts = MarkdownSplitter(size=100, overlap=10, counter=COUNTER).split(doc(long))
    assert len(parts) > 3 and {p.metadata["heading"] for p in parts} == {"Big"}


def test_code_splits_between_top_level_blocks() -> None:
    functions = [f"def f{i}(x):\n    y = x + {i}\n\n    return y * {i}\n" for i in range(30)]
    text = "import os\n\n" + "\n".join(functions)
    chunks = CodeSplitter(size=60, counter=COUNTER).split(doc(text))
    assert len(chunks) > 3
    for chunk in chunks:
        assert COUNTER.count_text(chunk.text) <= 60
        # no function is cut in two: each chunk's defs are whole
        assert chunk.text.count("def ") == chunk.text.count("return y")
