"""Instructions per request of ``switchyard serve`` under callgrind: a figure a loaded machine
does not move. ``python -m bench.instructions --variant off= --variant on='cache: {}' --requests 2000``

Each variant is the benchmark's gateway config with YAML laid over it (``bench.compare.merged``);
its gateway runs under ``valgrind --tool=callgrind`` with collection off, is warmed up, then
counts user-space instructions over ``--requests`` requests, ``--concurrency`` at a time (1 by
default; collection switched on and off with ``callgrind_control``). ``--fresh`` makes every request's prompt new (so, with a
cache, every one a miss); ``--stream`` sends 20-chunk streams; ``--model bench-slow`` has their chunks
paced ``--chunk-delay-ms`` apart (each its own socket read: the per-chunk path). ``--settle S`` keeps counting S
seconds after the last answer, so background work done for the requests (a tracing exporter's
batch) is counted too; ``$COLLECTOR`` in a variant names a local OTLP collector
(``bench/collector.py``, started when a variant names it). Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import orjson
import yaml

from bench.compare import merged
from bench.loadgen import Call, run_load
from bench.processes import collector_process, free_port, mock_process, wait_ready
from bench.run import MASTER_KEY, MODEL, gateway_config
from switchyard.mock.runner import new_event_loop

PROMPT = "Benchmark prompt: the quick brown fox jumps over the lazy dog, twice over."


def _call(url: str, *, fresh: bool, stream: bool, model: str, key: str = MASTER_KEY) -> Call:
    headers = (("content-type", "application/json"), ("authorization", f"Bearer {key}"))
    message = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}
    if stream:
        message["stream"] = True
    counter, run = itertools.count(), uuid.uuid4().hex[:6]

    def bodies() -> bytes:
        return orjson.dumps({**message, "messages": [{"role": "user", "content": f"{PROMPT} {run}-{next(counter)}"}]})
    return Call(f"{url}/v1/chat/completions", orjson.dumps(message), headers, stream=stream,
                bodies=bodies if fresh else None)


def _collected(out: Path) -> int:
    """The instructions counted in a callgrind output file (its ``summary:``/``totals:`` line)."""
    total = 0
    for path in out.parent.glob(out.name + "*"):
        for line in path.read_text(errors="replace").splitlines():
            match = re.match(r"^(?:summary|totals):\s+(\d+)", line)
            if match:
                total = max(total, int(match.group(1)))
    return total


def measure(mock_url: str, extra: str, requests: int, *, fresh: bool, stream: bool, workdir: Path,
            name: str, settle: float = 0.0, model: str = MODEL, chunk_delay_ms: float = 5.0,
            key: str = MASTER_KEY, concurrency: int = 1, src: str | None = None) -> float:
    """Instructions per request of one variant."""
    config = workdir / f"{name}.yaml"
    base = yaml.safe_load(gateway_config(mock_url, chunk_delay_ms))
    config.write_text(yaml.safe_dump(merged(base, yaml.safe_load(extra) or {})))
    port = free_port()
    out = workdir / f"callgrind.{name}.out"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable,
            "-m", "switchyard", "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    log = (workdir / f"{name}.log").open("wb")
    env = None if src is None else {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    loop = new_event_loop()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url + "/health/ready", 300, proc)
        call = _call(url, fresh=fresh, stream=stream, model=model, key=key)
        loop.run_until_complete(run_load(call, concurrency=1, duration=120, max_requests=max(100, requests // 10)))
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        result = loop.run_until_complete(run_load(call, concurrency=concurrency, duration=3600, max_requests=requests))
        time.sleep(settle)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        time.sleep(1.0)  # the dump is written by the process itself
        if result.errors:
            raise RuntimeError(f"{name}: {result.errors} errors, e.g. {result.error_sample}")
        return _collected(out) / result.ok
    finally:
        loop.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=YAML laid over the config")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--fresh", action="store_true", help="a new prompt every request")
    parser.add_argument("--stream", action="store_true", help="20-chunk streams")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds counted after the last answer")
    parser.add_argument("--model", default=MODEL, help="the alias asked (bench-slow: chunks paced apart)")
    parser.add_argument("--chunk-delay-ms", type=float, default=5.0, help="bench-slow's pace between chunks")
    parser.add_argument("--key", default=MASTER_KEY, help="the key the requests present (one a variant defines)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="requests in flight (1: each alone; 64: as the req/s figures load it, batching amortised)")
    parser.add_argument("--src", help="the gateway's source tree (its src/; e.g. a `git worktree` of a parent), "
                        "instead of the installed one")
    parser.add_argument("--keep", type=Path, help="copy each variant's callgrind output here (callgrind_annotate)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (callgrind_control)")
    variants = dict(v.split("=", 1) for v in args.variant)
    with tempfile.TemporaryDirectory(prefix="switchyard-instructions-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        with mock_process(port, core=1, log=workdir / "mock.log", stream_chunks=20), ExitStack() as stack:
            if any("$COLLECTOR" in extra for extra in variants.values()):
                collector = stack.enter_context(collector_process(free_port(), core=1, log=workdir / "collector.log"))
                variants = {name: extra.replace("$COLLECTOR", collector.url) for name, extra in variants.items()}
            for name, extra in variants.items():
                per = measure(f"http://127.0.0.1:{port}", extra, args.requests, fresh=args.fresh,
                              stream=args.stream, workdir=workdir, name=name, settle=args.settle,
                              model=args.model, chunk_delay_ms=args.chunk_delay_ms, key=args.key,
                              concurrency=args.concurrency, src=args.src)
                print(f"{name:>10}: {per / 1000:8.1f}k instructions per request", flush=True)
                if args.keep is not None:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    for found in workdir.glob(f"callgrind.{name}.out*"):
                        shutil.copy(found, args.keep / found.name)
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
