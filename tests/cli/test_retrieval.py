"""``switchyard ingest`` and ``switchyard retrieval eval|query`` on a real folder, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from switchyard.cli.main import main


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "owls.md").write_text("# Owls\n\nOwls hunt small mammals at night.")
    (docs / "larks.md").write_text("# Larks\n\nLarks sing at dawn over open fields.")
    (tmp_path / "queries.json").write_text(json.dumps([{"query": "birds singing early", "relevant": ["larks.md"]},
                                                        {"query": "nocturnal hunters", "relevant": ["owls.md"]}]))
    spec = {"embedder": {"use": "minilm"}, "index": {"use": "sql", "url": f"sqlite:///{tmp_path / 'i.db'}"},
            "ingest": {"splitter": {"use": "markdown"}},
            "retrievers": {"dense": {"use": "vector"}, "words": {"use": "bm25"}},
            "query": {"retriever": "dense", "answer": {"alias": "fake/echo", "k": 1}}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path


def test_ingest_eval_and_query(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(pipeline / "p.yaml"), "--path", str(pipeline / "docs")]) == 0
    out, err = capsys.readouterr()
    assert sorted(json.loads(out)["added"]) == ["larks.md", "owls.md"]
    assert "2/2" in err  # the progress bar's last state
    assert main(["ingest", str(pipeline / "p.yaml"), "--path", str(pipeline / "docs")]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["unchanged"]) == ["larks.md", "owls.md"]

    assert main(["retrieval", "eval", str(pipeline / "p.yaml"), "--queries", str(pipeline / "queries.json"),
                 "--k", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows) == {"random", "dense", "words"} and rows["dense"]["recall@1"] == 1.0

    assert main(["retrieval", "query", str(pipeline / "p.yaml"), "who hunts at night", "--answer"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [c["source"] for c in answer["citations"]] == ["owls.md"]


def test_errors_name_the_field(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pipeline / "bad.yaml").write_text("index: {use: nope}\n")
    assert main(["ingest", str(pipeline / "bad.yaml"), "--path", str(pipeline / "docs")]) == 2
    assert "index.use: Unknown index 'nope'" in capsys.readouterr().err
    assert main(["ingest", str(pipeline / "p.yaml"), "--path", str(pipeline / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
