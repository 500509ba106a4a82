"""The examples in examples/flows run on the fake provider: research (plan, parallel retrieval,
summarise, a critic loop), documents (fan-out over a folder), approval (a human, by the CLI)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from switchyard.cli import flow as flow_cli
from switchyard.flows import FlowEngine, FlowNotFound
from switchyard.flows.database import JournalDatabase
from switchyard.flows.runs import Runs
from switchyard.flows.spec import load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "flows"


@pytest.mark.asyncio
async def test_research_and_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    async with FlowEngine(f"sqlite:///{tmp_path / 'f.db'}") as engine:
        research = await engine.run({"yaml": load(EXAMPLES / "research.yaml")}, {"question": "deltas?", "approve_at": 3})
        documents_run = await engine.start({"yaml": load(EXAMPLES / "documents.yaml")})
        events = [e async for e in documents_run.events()]
        documents = await documents_run.outcome()
    assert research.status == "done" and research.output["verdict"] == "APPROVED"
    assert research.totals["model_calls"] == 1 + 3 * 2  # the plan, then three rounds of summary and critic
    assert research.output["summary"].startswith("Answer 'deltas?' from these notes (round 2)")
    assert len(research.output["sources"]) == 3
    assert research.output["sources"][1][0] == "Dams trap sediment upstream, so deltas downstream shrink and sink."

    assert documents.status == "done"
    assert [d["name"] for d in documents.output["documents"]] == ["deltas.txt", "glaciers.txt", "mangroves.txt"]
    assert [d["words"] for d in documents.output["documents"]] == [11, 5, 10]
    branches = {e["branch"] for e in events if "branch" in e}
    assert branches == {"per_document[0]", "per_document[1]", "per_document[2]"}


def cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "switchyard", "flow", *args, "--db", f"sqlite:///{db}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_approval_flow_waits_for_a_human_sent_by_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "approval.db"
    running = subprocess.Popen([sys.executable, "-m", "switchyard", "flow", "run", str(EXAMPLES / "approval.yaml"),
                                "--db", f"sqlite:///{db}", "--run-id", "ask-1"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert running.stderr is not None
        for line in running.stderr:  # its events, as they happen: the wait is the event this test waits for
            if line.startswith("wait.started"):
                break
        waiting = asyncio.run(_status(db, "ask-1"))
        assert (waiting.status, waiting.flow) == ("pending", "approval")
        sent = cli("send", "ask-1", "approval", "--value", '{"approved": true, "by": "ops"}', db=db)
        assert sent.returncode == 0, sent.stderr
        out, _ = running.communicate(timeout=60)
    finally:
        running.kill()
    outcome = json.loads(out)
    assert running.returncode == 0
    assert outcome["output"]["decision"] == {"approved": True, "by": "ops"}
    assert outcome["output"]["published"] == "Announce the maintenance window on Sunday 02:00 UTC."


async def _status(db: Path, run_id: str) -> Any:
    runs = Runs(JournalDatabase.parse(f"sqlite:///{db}"))
    try:
        return await runs.status(run_id)
    finally:
        runs.close()


def test_cli_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {id: a, step: echo, with: {q: '${steps.b}'}}\n")
    done = cli("run", str(bad), db=tmp_path / "f.db")
    assert done.returncode == 2
    assert "steps[0].with.q: ${steps.b}: no step with that id here" in done.stderr
    with pytest.raises(FlowNotFound, match="no run 'nope': no journal at"):
        asyncio.run(_status(tmp_path / "none.db", "nope"))
    with pytest.raises(ValueError, match="--input: not JSON"):
        flow_cli._json_arg("{oops", "--input")
