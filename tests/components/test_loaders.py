"""Each loader on a real file, the directory walker's globs, and bad files refused with the reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from switchyard.components.directory import DirectoryLoader
from switchyard.components.loaders import (
    CsvLoader,
    HtmlLoader,
    JsonLinesLoader,
    MarkdownLoader,
    PdfLoader,
    TextLoader,
)
from switchyard.components.protocols import Document, Loader
from switchyard.core.errors import InvalidRequest
from tests.components.pdf import write_pdf

PAGE = """<html><head><title>Heat pumps explained</title></head><body>
<nav><a href="/">Home</a> | <a href="/shop">Shop</a> | <a href="/login">Log in</a></nav>
<article><h1>Heat pumps explained</h1>
<p>A heat pump moves heat from the outside air into the house using a refrigerant cycle, and for every unit
of electricity it delivers three or more units of heat. That ratio is its coefficient of performance.</p>
<p>Ground-source heat pumps draw on the steady temperature a few metres underground and keep their
efficiency through the coldest weeks of winter, when air-source units work hardest.</p></article>
<footer>Copyright 2026 Example Ltd. Cookie settings. Privacy policy.</footer>
<script>var tracking = "do not index me";</script></body></html>"""


async def read(loader: Loader, path: Path) -> list[Document]:
    return [d async for d in loader.load(str(path))]


async def test_text_and_markdown(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain words")
    (tmp_path / "b.md").write_text("intro\n\n# The Title\n\nbody")
    [text] = await read(TextLoader(), tmp_path / "a.txt")
    assert text.text == "plain words" and text.metadata["loader"] == "text"
    assert text.metadata["sha256"] == hashlib.sha256(b"plain words").hexdigest()
    [md] = await read(MarkdownLoader(), tmp_path / "b.md")
    assert md.metadata["title"] == "The Title" and md.id == str(tmp_path / "b.md")
    assert MarkdownLoader().accepts("x/README.MD") and not MarkdownLoader().accepts("x.txt")


async def test_html_keeps_the_main_text_only(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(PAGE)
    [doc] = await read(HtmlLoader(), tmp_path / "page.html")
    assert "coefficient of performance" in doc.text and "Ground-source" in doc.text
    for boilerplate in ("Log in", "Cookie settings", "do not index me"):
        assert boilerplate not in doc.text
    assert doc.metadata["title"] == "Heat pumps explained"


async def test_pdf_one_document_per_page(tmp_path: Path) -> None:
    write_pdf(tmp_path / "guide.pdf", [["Chapter one: the kettle."], ["Chapter two: the teapot (warm it first)."]],
              title="Tea guide")
    docs = await read(PdfLoader(), tmp_path / "guide.pdf")
    assert [d.metadata["page"] for d in docs] == [1, 2]
    assert [d.id.rsplit("#", 1)[1] for d in docs] == ["p1", "p2"]
    assert "teapot (warm it first)" in docs[1].text and docs[0].metadata["title"] == "Tea guide"


async def test_csv_and_json_lines(tmp_path: Path) -> None:
    (tmp_path / "faq.csv").write_text("id,question,answer,team\n7,How do I reset?,Hold the button.,support\n")
    [row] = await read(CsvLoader(text_columns=["question", "answer"], id_column="id"), tmp_path / "faq.csv")
    assert row.text == "How do I reset?\nHold the button." and row.metadata["team"] == "support"
    assert row.id.endswith("#7")
    [whole] = await read(CsvLoader(), tmp_path / "faq.csv")
    assert "question: How do I reset?" in whole.text
    (tmp_path / "notes.jsonl").write_text('{"id": "n1", "text": "first", "tag": "a"}\n\n{"text": "second"}\n')
    docs = await read(JsonLinesLoader(), tmp_path / "notes.jsonl")
    assert [d.text for d in docs] == ["first", "second"] and docs[0].metadata["tag"] == "a"
    assert docs[0].id.endswith("#n1") and docs[1].id.endswith("#line3")


@pytest.mark.parametrize(("loader", "name", "content", "param", "reason"), [
    (JsonLinesLoader(), "bad.jsonl", b'{"text": "ok"}\nnot json\n', "source", "line 2 is not JSON"),
    (JsonLinesLoader(), "bad2.jsonl", b'{"body": "x"}\n', "text_field", "no string field 'text'"),
    (CsvLoader(text_columns=["missing"]), "bad.csv", b"a,b\n1,2\n", "text_columns", "no column 'missing'"),
    (PdfLoader(), "bad.pdf", b"%PDF-1.4 this is not really a pdf", "source", "not a readable pdf file"),
    (TextLoader(), "bad.txt", b"\xff\xfe\x00bad", "source", "not utf-8 text"),
    (TextLoader(max_bytes=4), "big.txt", b"too long", "source", "more than the loader's max_bytes"),
])
async def test_bad_files_are_refused_naming_file_and_reason(tmp_path: Path, loader: Loader, name: str,
                                                            content: bytes, param: str, reason: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InvalidRequest) as caught:
        await read(loader, tmp_path / name)
    assert caught.value.param == param
    assert reason in caught.value.message and name in caught.value.message


async def test_the_directory_walker_globs_and_dispatches(tmp_path: Path) -> None:
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_text("# A\n\nalpha")
    (tmp_path / "docs" / "deep" / "b.txt").write_text("beta")
    (tmp_path / "docs" / "deep" / "c.bin").write_bytes(b"\x00\x01")
    (tmp_path / "docs" / ".hidden.md").write_text("secret")
    (tmp_path / "docs" / "drafts").mkdir()
    (tmp_path / "docs" / "drafts" / "d.md").write_text("draft")
    walker = DirectoryLoader(exclude=["drafts/*"])
    docs = await read(walker, tmp_path / "docs")
    assert [d.source for d in docs] == ["a.md", "deep/b.txt"]
    assert [d.metadata["loader"] for d in docs] == ["markdown", "text"]
    assert walker.skipped == ["deep/c.bin"]
    only_md = [d.source for d in await read(DirectoryLoader(include=["**/*.md"]), tmp_path / "docs")]
    assert only_md == ["a.md", "drafts/d.md"]
    with pytest.raises(InvalidRequest) as caught:
        await read(DirectoryLoader(max_files=1), tmp_path / "docs")
    assert caught.value.param == "max_files"
    with pytest.raises(InvalidRequest) as caught:
        await read(walker, tmp_path / "nowhere")
    assert caught.value.param == "path"
