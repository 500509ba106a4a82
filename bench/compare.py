"""Two source trees side by side: ``python -m bench.compare --tree before=SRC --tree after=SRC``.

Starts one mock and one gateway per tree (each ``switchyard serve`` with
``PYTHONPATH`` at that tree's ``src``), then alternates short c64 load rounds
between them, so drift on a shared machine hits every tree alike. Prints, per
tree and mode, the median req/s and the gateway's median CPU time per request:
the figure to compare a change against its parent with (``git worktree add``
gives the parent's tree). ``--extra-config NAME=YAML`` lays YAML over a tree's config (mappings merged);
``$COLLECTOR`` in it names a local OTLP collector (``bench/collector.py``, started on the mock's core
when some config names it: ``tracing: {endpoint: $COLLECTOR}``);
``--key NAME=KEY`` makes that tree's load authenticate with KEY instead of the master key
(e.g. a static key with a budget, defined in the extra config).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from bench.harness import Context
from bench.loadgen import run_load
from bench.processes import Process, collector_process, cpu_seconds, free_port, mock_process, pin
from bench.run import MASTER_KEY, MODEL, gateway_command, gateway_config
from bench.throughput import calls
from switchyard.mock.runner import new_event_loop


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, mappings merged key by key (``auth.keys`` beside the master key)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def compare(trees: dict[str, str], extra: dict[str, str], rounds: int, seconds: float,
            modes: tuple[str, ...], keys: dict[str, str] | None = None
            ) -> dict[tuple[str, str], list[tuple[float, float, float, float]]]:
    """``{(tree, mode): [(req/s, CPU µs per request, p50 ms, p99 ms), ...]}``, one entry per round."""
    command = gateway_command()
    if command is None:
        raise SystemExit("`switchyard` is not installed in this venv")
    results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {(t, m): [] for t in trees for m in modes}
    with tempfile.TemporaryDirectory(prefix="switchyard-compare-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        mock_port = free_port()
        stack.enter_context(mock_process(mock_port, core=1, log=workdir / "mock.log", stream_chunks=20))
        if any("$COLLECTOR" in text for text in extra.values()):
            collector = stack.enter_context(collector_process(free_port(), core=1, log=workdir / "collector.log"))
            extra = {name: text.replace("$COLLECTOR", collector.url) for name, text in extra.items()}
        pin(0, 1)
        contexts = {}
        for name, src in trees.items():
            config = workdir / f"{name}.yaml"
            base = yaml.safe_load(gateway_config(f"http://127.0.0.1:{mock_port}"))
            config.write_text(yaml.safe_dump(merged(base, yaml.safe_load(extra.get(name, "")) or {})))
            port = free_port()
            gateway = Process([*command, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                              core=0, ready_url=f"http://127.0.0.1:{port}/health/ready", log=workdir / f"{name}.log",
                              env={**os.environ, "PYTHONPATH": src})
            stack.enter_context(gateway)
            contexts[name] = (gateway.pid, Context(
                mock_url=f"http://127.0.0.1:{mock_port}", gateway_url=f"http://127.0.0.1:{port}", gateway_pid=gateway.pid,
                master_key=(keys or {}).get(name, MASTER_KEY), model=MODEL, duration=seconds, warmup=min(0.5, seconds), max_requests=10**7,
                concurrencies=(64,), workdir=workdir, notes=[]))
        loop = new_event_loop()
        try:
            for _ in range(rounds):
                for mode in modes:
                    for name, (pid, ctx) in contexts.items():
                        result = loop.run_until_complete(run_load(
                            calls(ctx, "gateway")[mode], concurrency=64, duration=seconds, warmup=ctx.warmup,
                            cpu_of=lambda pid=pid: cpu_seconds(pid)))
                        if result.ok and result.target_cpu is not None:
                            results[(name, mode)].append((result.rps, result.target_cpu / result.ok * 1e6,
                                                          result.percentile(50) * 1000, result.percentile(99) * 1000))
        finally:
            loop.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a source tree (its src/)")
    parser.add_argument("--extra-config", action="append", default=[], help="NAME=YAML laid over that tree's config")
    parser.add_argument("--key", action="append", default=[], help="NAME=KEY: that tree's load sends KEY")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--mode", action="append", choices=("plain", "stream"))
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    extra = dict(e.split("=", 1) for e in args.extra_config)
    keys = dict(k.split("=", 1) for k in args.key)
    results = compare(trees, extra, args.rounds, args.seconds, tuple(args.mode or ("plain", "stream")), keys)
    for (name, mode), rows in results.items():
        if rows:
            rps, cpu = [r[0] for r in rows], [r[1] for r in rows]
            print(f"{name:>10} {mode:6} {statistics.median(rps):8,.0f} req/s (range {min(rps):,.0f}-{max(rps):,.0f})"
                  f"   CPU {statistics.median(cpu):6.0f} µs/request (range {min(cpu):.0f}-{max(cpu):.0f})")


if __name__ == "__main__":
    main()
