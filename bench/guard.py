"""What the guard costs: ``python -m bench.guard`` or ``python -m bench.run --section guard``.

In-process, exact (the stage itself, ``guard/stage.py``, over a ``next`` that answers at once):

* the time the guard stage adds to a request, p50, for a 2 KB and a 100 KB prompt of
  prose, numbers and code: with four values to mask (an email, a phone number, a card,
  a key), the answer echoing the masked prompt so every placeholder is restored; with
  nothing to find (the scan alone); and 100 KB with four values every 2 KB (200 in all).
  Measured as the CPU time of the stage (``time.thread_time``: what the gateway spends,
  whatever else the machine runs) and as wall time. Targets: ≤ 0.2 ms for 2 KB, ≤ 2 ms
  for 100 KB;
* the time to the first chunk of a stream through the restorer (``GuardedStream``)
  beyond the stream's own, p50 (what restoring adds to the time to first token).

Through real gateways (two ``switchyard serve`` processes on core 0 — guard off, guard
on masking — over one mock): streams of 20 chunks whose prompt holds an email and a card,
time to first byte p50, one stream at a time, the two gateways taking turns request by
request (so the shared machine's drift hits both alike); and non-streaming req/s and CPU
µs per request at concurrency 64, in interleaved rounds.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import orjson
import yaml

from bench.harness import Context, Figure, SectionResult
from bench.loadgen import Call as Load
from bench.loadgen import run_load
from bench.processes import Process, cpu_seconds, free_port, mock_process, pin
from switchyard.core.call import Call
from switchyard.core.config import parse_config
from switchyard.core.messages import ChatResponse, Chunk, validate_chat
from switchyard.core.registry import DetectorRegistry
from switchyard.guard.policy import Policies
from switchyard.guard.stage import Guard
from switchyard.guard.streams import GuardedStream
from switchyard.guard.vault import PLACEHOLDER, Vault
from switchyard.mock.runner import new_event_loop

TARGETS_MS = {2: 0.2, 100: 2.0}
WORDS = ("the gateway routes each request to a deployment in its region and retries once before falling back "
         "to another alias while the budget ledger reserves the estimated cost of the prompt").split()
CODE = 'def handler(event):\n    return {"status": 200, "items": [1, 2, 3], "version": "1.4.2"}\n'
VALUES = ("write to jane.doe@example.com", "call +1 415 555 2671", "card 4111 1111 1111 1111",
          "key AKIAIOSFODNN7EXAMPLE")


def prompt(kb: int, values: str, seed: int = 7) -> str:
    """About ``kb`` KB of prose with numbers and a code block every 1 KB; ``values``: ``none``, ``few``
    (four values to mask, once) or ``dense`` (four every 2 KB)."""
    rng = random.Random(seed)
    out: list[str] = [" ".join(VALUES) + ".\n"] if values == "few" else []
    size = 0
    block = 0
    while size < kb * 1024:
        words = [rng.choice(WORDS) if rng.random() > 0.04 else str(rng.randint(1, 99_999)) for _ in range(150)]
        piece = " ".join(words) + ".\n" + CODE
        if values == "dense" and block % 2 == 0:
            piece += " ".join(VALUES) + ".\n"
        out.append(piece)
        size += len(piece)
        block += 1
    return "".join(out)[: kb * 1024]


def _guard() -> Guard:
    config = parse_config({"guard": {"default": "pii", "policies": {"pii": {"action": "mask"}}},
                           "models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}})
    return Guard(Policies(config, DetectorRegistry(use_entry_points=False)))


async def stage_p50(text: str, iterations: int) -> tuple[float, float, int]:
    """p50 µs the stage adds to a unary chat of ``text`` (its answer echoes the masked prompt) in
    CPU time and in wall time, and how many values it masked."""
    guard = _guard()
    request = validate_chat({"model": "m", "messages": [{"role": "user", "content": text}]})

    async def answer(call: Call) -> ChatResponse:
        content = call.request.body["messages"][0]["content"]
        return ChatResponse(body={"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

    group = type("Group", (), {"config": None, "alias": "m"})()
    cpu, wall = [], []
    masked = 0
    for i in range(iterations + 5):
        call = Call("bench", request=request)
        call.group = group
        started, spent = time.perf_counter(), time.thread_time()
        await answer(call)
        direct, direct_cpu = time.perf_counter() - started, time.thread_time() - spent
        call = Call("bench", request=request)
        call.group = group
        started, spent = time.perf_counter(), time.thread_time()
        await guard.unary(call, answer)
        elapsed, elapsed_cpu = time.perf_counter() - started, time.thread_time() - spent
        if i >= 5:
            cpu.append((elapsed_cpu - direct_cpu) * 1e6)
            wall.append((elapsed - direct) * 1e6)
        masked = len(PLACEHOLDER.findall(call.request.body["messages"][0]["content"]))
    return statistics.median(cpu), statistics.median(wall), masked


async def first_chunk_p50(iterations: int) -> tuple[float, float]:
    """p50 µs to the first chunk of a 20-chunk stream, directly and through the restorer."""
    vault = Vault()
    vault.mask("email", "jane.doe@example.com")
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    frames = [orjson.dumps({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
    frames += [orjson.dumps({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
               for piece in ("Write to ", "[EMA", "IL_1] ", "today", *["ok "] * 16)]

    async def chunks() -> AsyncIterator[Chunk]:
        for raw in frames:
            yield Chunk(raw=raw)

    direct, guarded = [], []
    for _ in range(iterations):
        started = time.perf_counter()
        await chunks().__anext__()
        direct.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        await GuardedStream(chunks(), vault).__anext__()
        guarded.append((time.perf_counter() - started) * 1e6)
    return statistics.median(direct), statistics.median(guarded)


# -- through real gateways ------------------------------------------------------------------------

GATEWAYS = {"off": {}, "on": {"guard": {"default": "pii", "policies": {"pii": {"action": "mask"}}}}}
STREAM_PROMPT = "Please confirm the booking for jane.doe@example.com, paid with card 4111 1111 1111 1111. Thanks!"


def gateways(rounds: int, seconds: float) -> dict[tuple[str, str], list[float]]:
    """``{(variant, figure): [per round]}``: ``ttfb`` (ms p50, streams at c1), ``rps`` and ``cpu``
    (µs/request, non-streaming at c64)."""
    from bench.run import gateway_command

    command = gateway_command()
    if command is None:
        raise RuntimeError("`switchyard` is not installed in this venv")
    out: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="switchyard-guard-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        mock_port = free_port()
        stack.enter_context(mock_process(mock_port, core=1, log=workdir / "mock.log", stream_chunks=20))
        pin(0, 1)
        running = {}
        for name, extra in GATEWAYS.items():
            config = {"logging": {"access_log": False}, **extra, "models": {"m": {"deployments": [{
                "provider": "openai", "model": "gpt-4o-mini", "base_url": f"http://127.0.0.1:{mock_port}/v1",
                "api_key": "sk-upstream"}]}}}
            path = workdir / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config))
            port = free_port()
            gateway = Process([*command, "serve", "--config", str(path), "--host", "127.0.0.1", "--port", str(port)],
                              core=0, ready_url=f"http://127.0.0.1:{port}/health/ready", log=workdir / f"{name}.log",
                              env={**os.environ})
            stack.enter_context(gateway)
            running[name] = (gateway.pid, f"http://127.0.0.1:{port}/v1/chat/completions")
        loop = new_event_loop()
        headers = (("content-type", "application/json"),)
        body = {"model": "m", "messages": [{"role": "user", "content": STREAM_PROMPT}]}
        streamed = orjson.dumps({**body, "stream": True})
        turns = {name: [] for name in running}
        for turn in range(rounds * 100 + 20):
            for name, (_, url) in running.items():
                first = first_byte(url, streamed)
                if turn >= 20:  # warm
                    turns[name].append(first)
        for name, firsts in turns.items():
            out[(name, "ttfb")] = [statistics.median(firsts) * 1000]
        try:
            for _ in range(rounds):
                for name, (pid, url) in running.items():
                    plain = Load(url, orjson.dumps(body), headers)
                    result = loop.run_until_complete(run_load(plain, concurrency=64, duration=seconds,
                                                              warmup=min(0.3, seconds),
                                                              cpu_of=lambda pid=pid: cpu_seconds(pid)))
                    if result.ok and result.target_cpu is not None:
                        out.setdefault((name, "rps"), []).append(result.rps)
                        out.setdefault((name, "cpu"), []).append(result.target_cpu / result.ok * 1e6)
        finally:
            loop.close()
    return out


def first_byte(url: str, body: bytes) -> float:
    """Seconds from sending one streaming request to the first byte of its body (a fresh connection)."""
    host, _, rest = url.split("//", 1)[1].partition(":")
    port, _, path = rest.partition("/")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (f"POST /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
        started = time.perf_counter()
        sock.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        if not received.partition(b"\r\n\r\n")[2]:
            sock.recv(65536)
        elapsed = time.perf_counter() - started
        while sock.recv(65536):
            pass
    return elapsed


def guard(ctx: Context) -> SectionResult:
    quick = ctx.duration < 1
    out = SectionResult()
    for kb, values in ((2, "few"), (2, "none"), (100, "few"), (100, "none"), (100, "dense")):
        iterations = (50 if quick else 400) if kb == 2 else (10 if quick else 60)
        text = prompt(kb, values)
        cpu, wall, masked = asyncio.run(stage_p50(text, iterations))
        target = TARGETS_MS[kb]
        what = {"few": "4 values", "none": "nothing found", "dense": "4 values per 2 KB"}[values]
        out.figures.append(Figure(f"guard, {kb} KB, {what}", cpu / 1000, "ms CPU p50", f"<= {target} ms",
                                  cpu / 1000 <= target))
        ctx.notes.append(f"guard stage {kb:3} KB, {what:18}: CPU {cpu / 1000:.3f} ms, wall {wall / 1000:.3f} ms (p50), "
                         f"{masked} placeholders")
    direct, guarded = asyncio.run(first_chunk_p50(200 if quick else 5000))
    out.figures.append(Figure("restorer, first chunk added", guarded - direct, "µs p50", "(not measurable)", None))
    try:
        measured = gateways(1 if quick else 4, 0.5 if quick else max(ctx.duration / 2, 1.0))
    except (RuntimeError, TimeoutError) as exc:
        ctx.notes.append(f"guard: gateways not measured ({exc})")
        return out
    for figure, unit in (("ttfb", "ms p50, streams one at a time, in turns"), ("rps", "req/s c64"),
                         ("cpu", "CPU µs/request c64")):
        for name in GATEWAYS:
            values = measured.get((name, figure))
            if values:
                ctx.notes.append(f"guard {name:3} {figure:4} {statistics.median(values):9.2f} {unit} "
                                 f"(rounds: {', '.join(f'{v:.2f}' for v in values)})")
    off, on = measured.get(("off", "ttfb")), measured.get(("on", "ttfb"))
    if off and on:
        out.figures.append(Figure("guard on, stream TTFB, c1", statistics.median(on), "ms p50",
                                  f"off: {statistics.median(off):.2f} ms", None))
    return out


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from bench.run import format_table

    ctx = Context(mock_url="", gateway_url=None, gateway_pid=None, master_key="", model="", duration=0.5 if args.quick
                  else 5.0, warmup=0.0, max_requests=0, concurrencies=(1,), workdir=Path("."), notes=[])
    result = guard(ctx)
    print(format_table([], result.figures))
    for note in ctx.notes:
        print(f"note: {note}")


if __name__ == "__main__":
    sys.exit(main())
