"""Pipelines from YAML: a third-party component by entry point, strict config errors naming the field,
acyclic retriever graphs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from switchyard.components.pipelines import RetrievalPipeline, parse_pipeline
from switchyard.core.errors import InvalidRequest
from switchyard.core.registry import ComponentRegistry

PLUGIN = '''
from switchyard.components.protocols import Chunk


class SentenceSplitter:
    """One chunk per sentence."""

    def __init__(self, *, marker="[s]"):
        self.marker = marker

    def split(self, document):
        sentences = [s.strip() for s in document.text.replace("\\n", " ").split(". ") if s.strip()]
        return [Chunk(id=f"{document.id}#{n}", text=f"{self.marker} {s}", document=document.id,
                      metadata={**document.metadata, "chunk": n}) for n, s in enumerate(sentences)]
'''


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package installed the way pip leaves one: its module and a dist-info with entry points."""
    site = tmp_path / "site"
    (site / "sy_sentences-1.0.dist-info").mkdir(parents=True)
    (site / "sy_sentences.py").write_text(PLUGIN)
    (site / "sy_sentences-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: sy-sentences\nVersion: 1.0\n")
    (site / "sy_sentences-1.0.dist-info" / "entry_points.txt").write_text(
        "[switchyard.components]\nsplitter:sentences = sy_sentences:SentenceSplitter\n")
    monkeypatch.syspath_prepend(str(site))
    return site


async def test_a_plugin_component_is_used_by_name(plugin_package: Path, tmp_path: Path) -> None:
    registry = ComponentRegistry()
    assert "sentences" in registry.of_role("splitter")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Owls hunt at night. Larks sing at dawn. Bats use echoes")
    (tmp_path / "p.yaml").write_text(textwrap.dedent("""
        embedder: {use: minilm}
        index: {use: memory}
        ingest:
          loader: {use: directory}
          splitter: {use: sentences, marker: "(s)"}
        query: {retriever: bm25, k: 1}
    """))
    async with RetrievalPipeline.load(tmp_path / "p.yaml") as pipeline:
        report = await pipeline.ingest(str(docs))
        assert report.chunks == 3
        [hit] = await pipeline.retrieve("which birds sing at dawn")
        assert hit.chunk.text == "(s) Larks sing at dawn" and hit.chunk.id == "a.txt#1"


@pytest.mark.parametrize(("config", "param", "reason"), [
    ({"embedder": {"use": "nope"}}, "embedder.use", "Unknown embedder 'nope'; known embedders: alias, minilm"),
    ({"index": {"use": "memory", "colour": "red"}}, "index", "unexpected keyword argument 'colour'"),
    ({"ingest": {"splitter": {"use": "tokens", "size": 2}}}, "ingest.splitter.size", "at least 8 tokens"),
    ({"query": {"k": 0}}, "query.k", "greater than or equal to 1"),
    ({"querry": {}}, "querry", "Extra inputs are not permitted"),
    ({"index": {"use": "sql", "url": "redis://127.0.0.1"}}, "index.url", "postgresql://... or sqlite:///path"),
    ({"query": {"reranker": {"use": "llm"}}}, "query.reranker", "missing 1 required keyword-only argument: 'alias'"),
    ({"query": {"retriever": "loop-a"}, "retrievers": {
        "loop-a": {"use": "hybrid", "retrievers": ["loop-b", "bm25"]},
        "loop-b": {"use": "hybrid", "retrievers": ["loop-a", "vector"]}}},
     "retrievers.loop-a", "loop-a -> loop-b -> loop-a is a cycle"),
    ({"embedder": {"use": "alias", "alias": "x", "client": 1}}, "embedder.client", "set by the pipeline"),
])
def test_bad_pipelines_name_the_field(config: dict[str, Any], param: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        RetrievalPipeline.load({"embedder": {"use": "alias", "alias": "fake/echo"}, **config})
    assert caught.value.param == param
    assert reason in caught.value.message


async def test_the_directory_loader_takes_loaders_by_name(tmp_path: Path) -> None:
    (tmp_path / "faq.csv").write_text("question,answer\nWhere is the exit?,Behind you.\n")
    (tmp_path / "notes.txt").write_text("not read: no loader for .txt here")
    spec = {"embedder": {"use": "minilm"}, "index": {"use": "memory"}, "query": {"retriever": "bm25"},
            "ingest": {"loader": {"use": "directory", "loaders": [{"use": "csv", "text_columns": ["question", "answer"]}]}}}
    async with RetrievalPipeline.load(spec, client=object()) as pipeline:
        report = await pipeline.ingest(str(tmp_path))
        assert report.added == ["faq.csv"] and report.skipped == ["notes.txt"]
        [hit] = await pipeline.retrieve("exit", k=1)
        assert hit.chunk.text == "Where is the exit?\nBehind you." and hit.chunk.id == "faq.csv#row1#0"


def test_a_pipeline_file_that_is_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("query: [unclosed")
    with pytest.raises(InvalidRequest) as caught:
        parse_pipeline(tmp_path / "bad.yaml")
    assert "not YAML" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        parse_pipeline(tmp_path / "missing.yaml")
    assert "cannot read it" in caught.value.message
