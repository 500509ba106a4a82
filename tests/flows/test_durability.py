"""Durability: a flow with a loop, gathered steps and branches, run by a subprocess that is
SIGKILLed at random points and restarted, ends with the same result as an undisturbed run,
and the upstream was asked each finished step's question once — only the steps in flight at a
kill are asked again."""

from __future__ import annotations

import collections
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import orjson

from switchyard.mock import MockUpstreamThread

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3
#: Model steps per round: a plan, three gathered fetches, two branches of two steps.
CALLS_PER_ROUND = 1 + 3 + 2 * 2
#: The most model steps in flight at once (the gathered fetches).
WIDEST = 3


def _start(db: Path, upstream: str, run_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.flows.killable", str(db), upstream, run_id, str(ROUNDS)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _prompts(mock: MockUpstreamThread) -> collections.Counter[str]:
    assert mock.mock is not None
    return collections.Counter(orjson.loads(r.body)["messages"][-1]["content"] for r in list(mock.mock.requests)
                               if r.path.endswith("/chat/completions"))


def _finish(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_a_flow_killed_at_random_points_resumes_without_rerunning_finished_steps(tmp_path: Path) -> None:
    with MockUpstreamThread(history=1000) as mock:
        mock.set_faults(latency_ms=40)
        reference = _finish(_start(tmp_path / "reference.db", mock.url + "/v1", "reference"))
        assert reference["status"] == "done"
        expected = _prompts(mock)
        assert sum(expected.values()) == ROUNDS * CALLS_PER_ROUND and max(expected.values()) == 1
        mock.reset()
        mock.set_faults(latency_ms=40)

        rng = random.Random(18)
        db, kills, started = tmp_path / "killed.db", 0, time.monotonic()
        for _ in range(5):
            process = _start(db, mock.url + "/v1", "killed")
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 0.5))  # a random point of the run: the kill is the event under test
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
                kills += 1
            else:
                process.communicate(timeout=10)
        final = _finish(_start(db, mock.url + "/v1", "killed"))
        elapsed = time.monotonic() - started

    print(f"kills={kills} repeated={sum(_prompts(mock).values()) - sum(expected.values())} elapsed={elapsed:.1f}s")
    assert kills >= 3, "the run ended before most kills: make it longer"
    assert final["status"] == "done"
    assert final["output"] == reference["output"]
    asked = _prompts(mock)
    assert set(asked) == set(expected)  # every step's question was asked …
    repeated = sum(asked.values()) - sum(expected.values())
    assert repeated <= kills * WIDEST, f"{repeated} repeated calls for {kills} kills: finished steps ran again"
    assert final["totals"]["model_calls"] == ROUNDS * CALLS_PER_ROUND
    assert elapsed < 40
