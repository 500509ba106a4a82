"""Durable flows: ``python -m bench.flows`` or the ``flows`` section of ``python -m bench.run``.

* journal overhead per step: a flow of ``STEPS`` trivial steps, minus the same calls made
  directly, divided by the steps — on a SQLite file and on PostgreSQL
  (``SWITCHYARD_BENCH_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432/test``, in a
  schema of its own, dropped after); and a model step (``fake/echo`` through the in-process
  gateway) against the same ``AsyncClient.chat`` call made directly;
* steps/s with one and with two ``switchyard flow worker`` processes taking runs queued on
  PostgreSQL (``RUNS`` runs of ``RUN_STEPS`` steps), from the first enqueue to the last outcome;
* resume time after a kill: a flow process killed (SIGKILL) mid-run and started again — from
  the new process's start to its first new step, and the engine's own share (open, DBOS
  launch and recovery).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import Context, Figure, SectionResult
from bench.spend import _answers, _drop_schema

ROOT = Path(__file__).resolve().parents[1]
STEPS, RUNS, RUN_STEPS = 200, 24, 10


def _noop(i: int) -> int:
    return i


async def _overhead(url: str, steps: int) -> tuple[float, float, float]:
    """Per step: (plain step, plain step without step events, model step) journal overhead in ms."""
    from switchyard.flows import FlowEngine, Run

    async def plain(run: Run, n: int) -> int:
        return sum([await run.step(f"s{i}", _noop, i) for i in range(n)])

    async def model(run: Run, n: int) -> int:
        for i in range(n):
            await run.model(f"m{i}", model="fake/echo", messages=[{"role": "user", "content": f"step {i}"}])
        return n

    engine = FlowEngine(url)
    engine.register("plain", plain)
    engine.register("model", model)
    async with engine:
        await engine.run("plain", 5)  # warm: connections, first inserts
        started = time.perf_counter()
        await engine.run("plain", steps)
        journaled = time.perf_counter() - started
        engine.step_events = False
        started = time.perf_counter()
        await engine.run("plain", steps)
        quiet = time.perf_counter() - started
        engine.step_events = True
        started = time.perf_counter()
        for i in range(steps):
            _noop(i)
        direct = time.perf_counter() - started
        client = engine.client
        await client.chat(model="fake/echo", messages=[{"role": "user", "content": "warm"}])
        started = time.perf_counter()
        for i in range(steps // 2):
            await client.chat(model="fake/echo", messages=[{"role": "user", "content": f"step {i}"}])
        direct_model = time.perf_counter() - started
        started = time.perf_counter()
        await engine.run("model", steps // 2)
        journaled_model = time.perf_counter() - started
    return ((journaled - direct) / steps * 1000, (quiet - direct) / steps * 1000,
            (journaled_model - direct_model) / (steps // 2) * 1000)


def _commit_ms(server: str, schema: str) -> float:
    """One bare INSERT's commit on the server (its WAL flush): the floor of a journaled write."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        connection.execute(f'CREATE TABLE "{schema}".probe (i int)')  # not TEMP: those skip the WAL
        started = time.perf_counter()
        for i in range(50):
            connection.execute(f'INSERT INTO "{schema}".probe VALUES (%s)', (i,))
        return (time.perf_counter() - started) / 50 * 1000


def _definition(steps: int) -> dict[str, Any]:
    from switchyard.flows.spec import validate

    return validate({"name": "bench", "steps": [{"id": f"s{i}", "step": "echo", "with": {"n": i}}
                                                for i in range(steps)]})


async def _workers_rate(url: str, workers: int) -> float:
    """Steps/s of ``workers`` flow workers on runs queued at ``url``."""
    from switchyard.flows import FlowEngine

    definition = _definition(RUN_STEPS)
    async with FlowEngine(url) as engine:
        processes = [subprocess.Popen([sys.executable, "-m", "switchyard", "flow", "worker", "--db", url,
                                       "--concurrency", "8", "--executor-id", f"bench-{workers}-{i}"], cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                     for i in range(workers)]
        try:
            for process in processes:
                assert process.stdout is not None
                process.stdout.readline()
            started = time.perf_counter()
            handles = [await engine.start({"yaml": definition}, queue=True) for _ in range(RUNS)]
            await asyncio.wait_for(asyncio.gather(*(h.outcome() for h in handles)), 300)
            elapsed = time.perf_counter() - started
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
    return RUNS * RUN_STEPS / elapsed


RESUMABLE = """
import asyncio, sys, time
from switchyard.flows import FlowEngine

def tick(i):
    print("step", i, time.time(), flush=True)
    return i

async def long(run, n):
    for i in range(n):
        await run.step(f"t{i}", tick, i)
        await run.step(f"pause{i}", asyncio.sleep, 0.01)
    return n

async def main():
    engine = FlowEngine(sys.argv[1])
    engine.register("long", long)
    began = time.perf_counter()
    async with engine:
        print("open", time.perf_counter() - began, flush=True)
        handle = await engine.start("long", 400, run_id="resumable")
        await handle.outcome()

asyncio.run(main())
"""


def _resume_time(workdir: Path) -> tuple[float, float]:
    """(process start -> first new step, engine open) in ms, after a SIGKILL mid-run."""
    script = workdir / "resumable.py"
    script.write_text(RESUMABLE)
    url = f"sqlite:///{workdir / 'resume.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    first = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE, text=True, env=env)
    assert first.stdout is not None
    for line in first.stdout:
        if line.startswith("step 50 "):
            break
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    started = time.time()
    second = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE, text=True, env=env)
    assert second.stdout is not None
    opened = None
    resumed = None
    for line in second.stdout:
        if line.startswith("open "):
            opened = float(line.split()[1]) * 1000
        if line.startswith("step "):
            resumed = (float(line.split()[2]) - started) * 1000
            break
    second.kill()
    second.wait(timeout=10)
    return resumed or float("nan"), opened or float("nan")


def measure(quick: bool, workdir: Path) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes: list[str] = []
    steps = STEPS // 4 if quick else STEPS
    plain, quiet, model = asyncio.run(_overhead(f"sqlite:///{workdir / 'overhead.db'}", steps))
    figures.append(Figure("flows: journal overhead per step, SQLite", plain, "ms", "(no target)", None))
    figures.append(Figure("  without step events", quiet, "ms", "(no target)", None))
    figures.append(Figure("flows: journal overhead per model step, SQLite", model, "ms", "(no target)", None))
    server = os.environ.get("SWITCHYARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    if not _answers(server):
        notes.append("flows: no PostgreSQL answered (SWITCHYARD_BENCH_POSTGRES): its rows were skipped")
    else:
        schema = f"bench_flows_{uuid.uuid4().hex[:8]}"
        try:
            figures.append(Figure("PostgreSQL: one INSERT's commit (for scale)", _commit_ms(server, schema), "ms",
                                  "(no target)", None))
            plain, quiet, model = asyncio.run(_overhead(f"{server}?schema={schema}", steps))
            figures.append(Figure("flows: journal overhead per step, PostgreSQL", plain, "ms", "(no target)", None))
            figures.append(Figure("  without step events", quiet, "ms", "(no target)", None))
            figures.append(Figure("flows: journal overhead per model step, PostgreSQL", model, "ms", "(no target)", None))
            for workers in (1, 2):
                rate = asyncio.run(_workers_rate(f"{server}?schema={schema}", workers))
                figures.append(Figure(f"flows: steps/s, {workers} worker{'s' if workers > 1 else ''} (PostgreSQL)",
                                      rate, "steps/s", "(no target)", None))
        finally:
            _drop_schema(server, schema)
    resumed, opened = _resume_time(workdir)
    figures.append(Figure("flows: killed -> resumed (new process to first new step)", resumed, "ms", "(no target)",
                          None))
    figures.append(Figure("  of which the engine's open (DBOS launch, recovery)", opened, "ms", "(no target)", None))
    return figures, notes


def flows(ctx: Context) -> SectionResult:
    """The benchmark section."""
    figures, notes = measure(ctx.duration < 1, ctx.workdir)
    ctx.notes.extend(notes)
    return SectionResult(figures=figures)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-flows-") as tmp:
        figures, notes = measure("--quick" in sys.argv, Path(tmp))
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:,.2f} {f.unit}"
        print(f"{f.name:58} {value:>16}")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
