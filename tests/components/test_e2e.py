"""End to end: a folder of Markdown and PDF files ingested by a YAML pipeline, asked through the fake
provider; the citations point at the chunks that hold the answer. Re-ingesting skips what did not change."""

from __future__ import annotations

from pathlib import Path

import yaml

from switchyard.components.pipelines import RetrievalPipeline
from tests.components.pdf import write_pdf

PIPELINE = {
    "name": "handbook",
    "embedder": {"use": "minilm"},
    "index": {"use": "sql", "url": "sqlite:///handbook.db"},
    "ingest": {"loader": {"use": "directory", "include": ["**/*.md", "**/*.pdf"]},
               "splitter": {"use": "markdown", "size": 120, "overlap": 10}},
    "retrievers": {"dense": {"use": "vector"}, "keyword": {"use": "bm25"},
                   "both": {"use": "hybrid", "retrievers": ["dense", "keyword"]}},
    "query": {"retriever": "both", "k": 3, "answer": {"alias": "fake/echo", "k": 3}},
}


def handbook(root: Path) -> Path:
    docs = root / "docs"
    (docs / "office").mkdir(parents=True)
    (docs / "office" / "facilities.md").write_text(
        "# Facilities\n\n## Parking\n\nStaff park in the basement garage; visitors use the bays by the gate.\n\n"
        "## Coffee machine\n\nDescale the coffee machine every Friday with the citric acid tablets in the drawer.\n")
    (docs / "travel.md").write_text(
        "# Travel policy\n\n## Trains\n\nBook second class for journeys under four hours.\n\n"
        "## Hotels\n\nHotel nights are refunded up to 150 euros in capitals and 110 euros elsewhere.\n")
    write_pdf(docs / "it-security.pdf", [
        ["IT security handbook.", "Laptops must use full-disk encryption."],
        ["Passwords.", "Rotate your VPN password every ninety days.", "Never reuse it for other services."],
    ], title="IT security")
    return docs


async def test_ingest_then_ask_cites_the_right_chunks(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    docs = handbook(tmp_path)
    (tmp_path / "handbook.yaml").write_text(yaml.safe_dump(PIPELINE))
    pipeline = RetrievalPipeline.load(tmp_path / "handbook.yaml")
    try:
        seen: list[int] = []
        report = await pipeline.ingest(str(docs), progress=lambda r: seen.append(r.done))
        assert sorted(report.added) == ["it-security.pdf", "office/facilities.md", "travel.md"]
        assert seen == [1, 2, 3] and report.total == 3 and report.chunks >= 6

        answer = await pipeline.ask("How often should the VPN password be changed?")
        top = answer.citations[0].to_json()
        assert top["source"] == "it-security.pdf" and top["page"] == 2 and "ninety days" in top["text"]
        assert "VPN password" in answer.text  # the fake echoes the prompt: the sources were in it

        answer = await pipeline.ask("when do we descale the coffee machine")
        top = answer.citations[0].to_json()
        assert top["source"] == "office/facilities.md" and top["heading"] == "Facilities > Coffee machine"
        assert top["id"] == f"office/facilities.md#{top['metadata']['chunk']}"

        hits = await pipeline.retrieve("hotel refund limit in capitals", k=1)
        assert hits[0].chunk.metadata["heading"] == "Travel policy > Hotels"
    finally:
        await pipeline.aclose()

    # another process, the same database: an unchanged folder does nothing; a changed file replaces its chunks
    again = RetrievalPipeline.load(tmp_path / "handbook.yaml")
    try:
        version = await again.index.version()
        report = await again.ingest(str(docs))
        assert report.added == [] and report.replaced == [] and len(report.unchanged) == 3 and report.chunks == 0
        assert await again.index.version() == version

        (docs / "travel.md").write_text("# Travel policy\n\n## Hotels\n\nHotel nights are refunded up to 200 euros.\n")
        report = await again.ingest(str(docs))
        assert report.replaced == ["travel.md"] and sorted(report.unchanged) == ["it-security.pdf", "office/facilities.md"]
        travel = [c for c in await again.index.chunks() if c.metadata["source"] == "travel.md"]
        assert len(travel) == 1 and "200 euros" in travel[0].text
        assert not any("second class" in c.text for c in await again.index.chunks())

        (docs / "office" / "facilities.md").unlink()
        report = await again.ingest(str(docs), prune=True)
        assert report.removed == ["office/facilities.md"]
        assert {c.metadata["source"] for c in await again.index.chunks()} == {"travel.md", "it-security.pdf"}
    finally:
        await again.aclose()
