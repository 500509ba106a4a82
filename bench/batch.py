"""Batches: ``python -m bench.batch`` or the ``batch`` section of ``python -m bench.run``.

A 10,000-line batch (``--quick``: 2,000) of chat lines against the mock upstream (answers at
once), submitted through a gateway (``switchyard serve``) to its Files and Batches API:

* lines/s with one and with two ``switchyard worker`` processes on Redis Streams and PostgreSQL
  (``SWITCHYARD_BENCH_REDIS``, ``SWITCHYARD_BENCH_POSTGRES``; a schema and a key prefix of their
  own, removed after), from the batch's creation to its completion;
* lines/s of the embedded default: the gateway alone on a SQLite file, running the lines itself;
* the time from a worker's death (SIGKILL, mid-batch) to the moment its work has been taken over
  by the other (its pending entries claimed), with ``batch.lease`` at ``LEASE`` seconds: about
  the lease, plus up to a second until the next ``XAUTOCLAIM``.

Sections whose servers do not answer are skipped with a note.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.harness import Context, Figure, SectionResult
from bench.processes import cpu_seconds
from bench.spend import _answers, _drop_schema

LEASE = 5.0
CHAT = "/v1/chat/completions"


def _lines(count: int) -> bytes:
    return b"\n".join(orjson.dumps({"custom_id": f"line-{i}", "method": "POST", "url": CHAT, "body": {
        "model": "chat", "messages": [{"role": "user", "content": f"line {i} of the benchmark"}]}})
        for i in range(count))


def _config(mock_url: str, storage: str, redis: tuple[str, str] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "storage": {"url": storage}, "logging": {"access_log": False, "level": "warning"},
        "batch": {"lease": LEASE, "sweep_interval": 0.5, "concurrency": 64, "in_gateway": redis is None,
                  "chunk_lines": int(os.environ.get("SWITCHYARD_BENCH_CHUNK_LINES", "100"))},
        "models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                             "base_url": f"{mock_url}/v1", "api_key": "sk-bench"}]}}}
    if redis is not None:
        config["redis"] = {"url": redis[0], "prefix": redis[1]}
    return config


def _worker(path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "switchyard", "worker", "--config", str(path),
                                "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if "ready" not in process.stdout.readline():
        raise RuntimeError("switchyard worker did not start")
    return process


def _run_batch(url: str, count: int, on_progress: Any = None) -> float:
    """Seconds from the batch's creation to its completion."""
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=2, timeout=120)
    uploaded = client.files.create(file=("bench.jsonl", io.BytesIO(_lines(count))), purpose="batch")
    started = time.perf_counter()
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        time.sleep(0.05)
        batch = client.batches.retrieve(batch.id)
        if on_progress is not None:
            on_progress(batch)
    elapsed = time.perf_counter() - started
    if batch.status != "completed" or batch.request_counts is None or batch.request_counts.completed != count:
        raise RuntimeError(f"the batch ended {batch.status}: {batch.request_counts}")
    ids = [orjson.loads(line)["custom_id"] for line in client.files.content(batch.output_file_id).content.splitlines()]
    if len(ids) != count or len(set(ids)) != count:  # exactly once, a worker killed or not
        raise RuntimeError(f"{len(ids)} output lines, {len(set(ids))} distinct, for {count} lines")
    return elapsed


def _gateway(path: Path) -> Any:
    from switchyard.server.runner import GatewayProcess

    return GatewayProcess(path, startup_timeout=60).start()


def workers_run(mock_url: str, postgres: str, redis_url: str, count: int, workers: int,
                kill: bool = False) -> tuple[float, float | None, float]:
    """``(lines/s, seconds from a worker's SIGKILL to its work being taken over, workers' CPU µs per line)``."""
    import redis

    from switchyard.batch.streams import GROUP
    from switchyard.cli.main import main as cli

    server, schema = postgres.split("?")[0], f"bench_batch_{uuid.uuid4().hex[:8]}"
    url = f"{server}?schema={schema}"
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    shared = redis.Redis.from_url(redis_url)
    stream = prefix + "batch:lines"
    reclaim: list[float] = []
    processes: list[subprocess.Popen[str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp:
            if cli(["db", "upgrade", "--url", url]) != 0:
                raise RuntimeError("db upgrade failed")
            path = Path(tmp) / "switchyard.yaml"
            path.write_text(yaml.safe_dump(_config(mock_url, url, (redis_url, prefix))))
            processes = [_worker(path) for _ in range(workers)]
            gateway = _gateway(path)
            killed: dict[str, Any] = {}

            def watch(batch: Any) -> None:
                if not kill or batch.request_counts is None:
                    return
                if not killed and batch.request_counts.completed >= count // 4:
                    victim = processes[0]
                    victim.send_signal(signal.SIGKILL)
                    killed["at"], killed["pid"] = time.perf_counter(), victim.pid
                elif killed and not reclaim:
                    held = {c["name"].decode(): int(c["pending"]) for c in shared.xinfo_consumers(stream, GROUP)}
                    mine = [n for n, pending in held.items() if f"-{killed['pid']}-" in n]
                    if mine and held[mine[0]] == 0:
                        reclaim.append(time.perf_counter() - killed["at"])

            before = sum(cpu_seconds(p.pid) for p in processes)
            try:
                elapsed = _run_batch(gateway.url, count, watch)
                cpu = sum(cpu_seconds(p.pid) for p in processes if p.poll() is None) - before
            finally:
                gateway.stop()
    finally:
        for process in processes:
            process.kill()
            process.wait(10)
        for key in shared.scan_iter(prefix + "*"):
            shared.delete(key)
        shared.close()
        _drop_schema(server, schema)
    return count / elapsed, (reclaim[0] if reclaim else None), cpu / count * 1e6


def embedded_run(mock_url: str, count: int) -> tuple[float, float]:
    """``(lines/s, the gateway's CPU µs per line)``."""
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp:
        path = Path(tmp) / "switchyard.yaml"
        path.write_text(yaml.safe_dump(_config(mock_url, f"sqlite:///{Path(tmp) / 'gw.db'}", None)))
        gateway = _gateway(path)
        try:
            assert gateway.process is not None
            before = cpu_seconds(gateway.process.pid)
            rate = count / _run_batch(gateway.url, count)
            return rate, (cpu_seconds(gateway.process.pid) - before) / count * 1e6
        finally:
            gateway.stop()


def measure(mock_url: str, quick: bool = False) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes: list[str] = []
    count = 2_000 if quick else 10_000
    rate, cpu = embedded_run(mock_url, count)
    figures.append(Figure(f"batch, embedded (SQLite), {count:,} lines", rate, "lines/s", "(no target)", None))
    figures.append(Figure("  gateway CPU per line (API, projector included)", cpu, "µs", "(no target)", None))
    postgres = os.environ.get("SWITCHYARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    redis_url = os.environ.get("SWITCHYARD_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    if not (_answers(postgres) and _answers(redis_url)):
        notes.append("batch: PostgreSQL or Redis did not answer; the worker rows were skipped")
        return figures, notes
    for workers in (1, 2):
        rate, _, cpu = workers_run(mock_url, postgres, redis_url, count, workers)
        figures.append(Figure(f"batch, {workers} worker{'s' if workers > 1 else ''}, {count:,} lines", rate,
                              "lines/s", "(no target)", None))
        figures.append(Figure("  workers' CPU per line", cpu, "µs", "(no target)", None))
    _, reclaim, _ = workers_run(mock_url, postgres, redis_url, count, 2, kill=True)
    figures.append(Figure(f"worker killed -> its work taken over (lease {LEASE:g} s)", reclaim, "s",
                          f"<= lease + 1 s ({LEASE + 1:g} s)", None if reclaim is None else reclaim <= LEASE + 1))
    if reclaim is None:
        notes.append("batch: the batch ended before the killed worker's work was seen taken over")
    return figures, notes


def batch(ctx: Context) -> SectionResult:
    """The benchmark section."""
    figures, notes = measure(ctx.mock_url, ctx.duration < 1)
    ctx.notes.extend(notes)
    return SectionResult(figures=figures)


def main() -> int:
    from bench.processes import free_port, mock_process

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp, \
            mock_process(port, core=1, log=Path(tmp) / "mock.log"):
        figures, notes = measure(f"http://127.0.0.1:{port}", "--quick" in sys.argv)
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:,.1f} {f.unit}"
        print(f"{f.name:48} {value:>18}   target {f.target}")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
