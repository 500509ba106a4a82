"""``python -m bench.workers [--workers 1,2] [--duration S] [--concurrency C]``: req/s of
``switchyard serve --workers N`` for each N.

The gateway answers from its in-process ``fake`` provider (no upstream process
competing for the cores), without auth (so no shared store is needed); the load
generator is this process, unpinned: on a machine with as many cores as workers it
competes with them, and the figures say what a client on the same machine sees.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import orjson

from bench.loadgen import Call, run_load
from bench.processes import Process, cpu_seconds, free_port
from switchyard.mock.runner import new_event_loop

CONFIG = """\
models:
  chat:
    deployments:
      - provider: fake
        model: echo
"""


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the workers), from /proc."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


def measure(workers: int, workdir: Path, *, duration: float, concurrency: int) -> tuple[float, float, int, float]:
    """``(req/s, p50 ms, errors, gateway CPU µs per request)`` of a non-streaming chat through
    ``workers`` workers (the CPU of the parent and every worker: steadier than req/s on a shared machine)."""
    config = workdir / "workers.yaml"
    config.write_text(CONFIG)
    port = free_port()
    argv = [sys.executable, "-m", "switchyard", "serve", "--config", str(config), "--port", str(port),
            "--log-level", "warning", "--workers", str(workers)]
    body = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "how many workers?"}]})
    call = Call(f"http://127.0.0.1:{port}/v1/chat/completions", body, (("content-type", "application/json"),))
    with Process(argv, core=-1, ready_url=f"http://127.0.0.1:{port}/health/ready",
                 log=workdir / f"gateway-{workers}.log", ready_timeout=60.0) as gateway:
        loop = new_event_loop()
        try:
            result = loop.run_until_complete(run_load(call, concurrency=concurrency, duration=duration,
                                                      warmup=1.0, max_requests=2_000_000,
                                                      cpu_of=lambda: _tree_cpu(gateway.pid)))
        finally:
            loop.close()
    per_request = (result.target_cpu or 0.0) / result.ok * 1e6 if result.ok else float("nan")
    return result.rps, result.percentile(50) * 1000.0, result.errors, per_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    print(f"{'workers':>7} {'req/s':>9} {'p50 ms':>8} {'errors':>6} {'CPU µs/req':>10}   "
          f"(non-streaming, fake provider, c{args.concurrency}; {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-workers-") as tmp:
        for workers in counts:
            rps, p50, errors, cpu = measure(workers, Path(tmp), duration=args.duration, concurrency=args.concurrency)
            print(f"{workers:7d} {rps:9,.0f} {p50:8.2f} {errors:6d} {cpu:10,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
