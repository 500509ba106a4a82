"""Scale-out: runs queued on PostgreSQL are shared by two `switchyard flow worker` processes;
the process that queued them runs none itself."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from switchyard.flows import FlowEngine
from switchyard.flows.spec import validate

ROOT = Path(__file__).resolve().parents[2]
RUNS = 8
SLOW = validate({"name": "slow", "steps": [
    {"id": "think", "model": "fake/slow", "prompt": "${input}"},
    {"id": "tag", "step": "echo", "with": {"text": "${steps.think.text}"}}]})


def _worker(url: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "switchyard", "flow", "worker", "--db", url, "--concurrency", "4",
                             "--executor-id", name], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ready(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    line = worker.stdout.readline()
    assert line.startswith("switchyard flow worker ready"), worker.stderr.read() if worker.stderr else line


@pytest.mark.asyncio
async def test_two_workers_share_queued_runs(postgres_url: str) -> None:
    async with FlowEngine(postgres_url) as engine:  # creates the journal; takes no queued run (concurrency 0)
        workers = [_worker(postgres_url, f"w{i}") for i in range(2)]
        try:
            for worker in workers:
                _ready(worker)
            handles = [await engine.start({"yaml": SLOW}, f"job {i}", queue=True, run_id=f"q-{i}") for i in range(RUNS)]
            outcomes = await asyncio.wait_for(asyncio.gather(*(h.outcome() for h in handles)), 60)
            statuses = [await engine.status(h.run_id) for h in handles]
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.communicate(timeout=30)
    assert [o.output for o in outcomes] == [f"job {i}" for i in range(RUNS)]
    executors = [s.executor for s in statuses]
    assert set(executors) == {"w0", "w1"}, executors
    assert all(w.returncode == 0 for w in workers)
