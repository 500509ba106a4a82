"""The shipped evaluation corpus, scored as the README reports it; the metrics on known rankings;
the README's retrieval examples (its pipeline file and its Python) run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from switchyard.components.evaluation import Query, evaluate, load_queries
from switchyard.components.pipelines import RetrievalPipeline, parse_pipeline
from switchyard.components.protocols import Chunk, Hit
from switchyard.core.errors import InvalidRequest

CORPUS = Path(__file__).parent / "corpus"
README = (Path(__file__).parents[2] / "README.md").read_text()
SECTION = re.search(r"^## Retrieval\n(.*?)(?=^## )", README, re.S | re.M).group(1)  # type: ignore[union-attr]


def readme_table() -> dict[str, list[float]]:
    rows = {}
    for line in SECTION.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[\d.]+", cells[1]):
            rows[cells[0]] = [float(c) for c in cells[1:]]
    return rows


def hits(*sources: str) -> list[Hit]:
    return [Hit(Chunk(id=f"{s}#0", text="", document=s, metadata={"source": s}), 1.0) for s in sources]


async def test_the_metrics() -> None:
    rankings = {"q1": hits("a", "b", "c"), "q2": hits("x", "a", "b"), "q3": hits("x", "y", "z")}

    async def search(query: str, n: int) -> list[Hit]:
        return rankings[query][:n]

    queries = [Query("q1", frozenset({"a"})), Query("q2", frozenset({"a", "b"})), Query("q3", frozenset({"a"}))]
    scores = await evaluate(search, queries, ks=(1, 3), depth=3)
    assert scores.recall == {1: pytest.approx(1 / 3), 3: pytest.approx(2 / 3)}
    assert scores.mrr == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert scores.misses == ["q2", "q3"]
    with pytest.raises(InvalidRequest) as caught:
        await evaluate(search, queries, ks=(20,), depth=10)
    assert caught.value.param == "k"


def test_bad_query_sets_name_the_entry(tmp_path: Path) -> None:
    (tmp_path / "q.json").write_text('[{"query": "ok", "relevant": ["a"]}, {"query": "", "relevant": ["a"]}]')
    with pytest.raises(InvalidRequest) as caught:
        load_queries(tmp_path / "q.json")
    assert caught.value.param == "queries.1.query"


async def test_the_corpus_scores_as_the_readme_says(minilm_model: Any) -> None:
    from switchyard.components.embedders import MiniLMEmbedder

    queries = load_queries(CORPUS / "queries.json")
    assert len(queries) == 50 and len(list((CORPUS / "docs").glob("*.md"))) == 60
    spec = {"embedder": {"use": "minilm"}, "index": {"use": "memory"},
            "ingest": {"loader": {"use": "directory", "include": ["**/*.md"]}, "splitter": {"use": "markdown", "size": 200}},
            "retrievers": {"vector": {"use": "vector"}, "bm25": {"use": "bm25"},
                           "hybrid": {"use": "hybrid", "retrievers": ["vector", "bm25"]},
                           "weighted": {"use": "hybrid", "retrievers": ["vector", "bm25"], "weights": [1.0, 0.5], "c": 20}},
            "query": {"retriever": "hybrid", "reranker": {"use": "llm", "alias": "fake/rerank"}}}
    async with RetrievalPipeline.load(spec) as pipeline:
        await pipeline.embedder.aclose()
        shared = MiniLMEmbedder(model=minilm_model)  # the session's loaded model
        pipeline.retrievers["vector"].embedder = pipeline.ingestion.embedder = shared
        await pipeline.ingest(str(CORPUS / "docs"))
        table = readme_table()
        measured = {}
        for name, row in (("vector", "vector (all-MiniLM-L6-v2)"), ("bm25", "BM25"),
                          ("hybrid", "hybrid, RRF 1:1, c=60 (the default)"), ("weighted", "hybrid, RRF weights 1:0.5, c=20")):
            retriever = pipeline.retrievers[name]
            scores = await evaluate(lambda q, n, r=retriever: r.retrieve(q, n), queries)
            measured[row] = [scores.recall[1], scores.recall[3], scores.recall[5], scores.mrr]
        scores = await evaluate(lambda q, n: pipeline.retrieve(q, k=n), queries)
        measured["hybrid + rerank by `fake/rerank`"] = [scores.recall[1], scores.recall[3], scores.recall[5], scores.mrr]
        await shared.aclose()
    for row, values in measured.items():
        assert table[row] == pytest.approx(values, abs=0.0011), row
    assert measured["vector (all-MiniLM-L6-v2)"][3] > table["random (baseline)"][3] + 0.5


def test_the_readme_pipeline_file_parses(tmp_path: Path) -> None:
    block = next(b for b in re.findall(r"^```text\n(.*?)^```", SECTION, re.S | re.M) if "retrieval pipeline" in b)
    (tmp_path / "handbook.yaml").write_text(block)
    spec = parse_pipeline(tmp_path / "handbook.yaml")
    assert spec.query.reranker == {"use": "llm", "alias": "fake/rerank"}
    pipeline = RetrievalPipeline.load(spec.model_copy(update={"gateway": None}), client=object())
    assert type(pipeline.retriever).__name__ == "HybridRetriever"


def test_the_readme_python_example_runs() -> None:
    code = re.findall(r"^```py\n(.*?)^```", SECTION, re.S | re.M)[0]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['vpn.md#0']"
