"""The semantic cache, in-process: ``python -m bench.semantic`` or the ``semantic`` section of ``python -m bench.run``.

* the offline model (all-MiniLM-L6-v2 with numpy): its load time in a fresh process (imports
  included, then the load alone) and the embedding latency per prompt, alone and in a batch of 16;
* a lookup, the embedding excluded (the prompt's context digest, the index search, reading the
  answer): p50 and p99 at 10,000 and 100,000 entries of one context, synthetic random unit
  vectors of the model's 384 dimensions, each query at cosine ~0.9 to a stored one; target
  p50 <= 5 ms at 100,000; the share of lookups that found the exact nearest (the binary
  prefilter's recall); the index's memory per entry;
* the same lookup with the entries in Redis on loopback (``SWITCHYARD_BENCH_REDIS``): one GET more;
* in the cache stage, in process: a semantic hit (a reworded prompt: the embedding, the lookup, the
  answer rebuilt), and a miss of an alias with ``semantic: true`` against one with the exact cache
  only (what the semantic cache adds to every miss: the embedding, the lookup, the store);
* with ``bench.run`` (a mock upstream running): side by side, two gateways — the exact cache only,
  and ``semantic: true`` — every request a new prompt, interleaved c16 rounds: req/s and CPU per
  request (each miss embeds its prompt on the gateway's core).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.harness import Context, Figure, SectionResult
from switchyard.cache.semantic import SemanticCache, SemanticHit, SemanticSettings, entries_for
from switchyard.cache.semantic.embedder import Vector
from switchyard.storage import open_store

LOOKUP_TARGET_MS = 5.0
DIM = 384
PROMPTS = ["What is the capital of France?", "How do I reverse a list in Python?", "hi",
           "Explain in a few sentences how a transformer network attends over a long sequence of tokens, "
           "and why the cost of attention grows with the square of the sequence length.",
           "Give me a recipe for pancakes.", "What are the symptoms of the flu?"]

_LOAD = """
import json, time
started = time.perf_counter()
from switchyard.cache.semantic.minilm import MiniLM
imported = time.perf_counter()
model = MiniLM()
model.load()
print(json.dumps({"total": time.perf_counter() - started, "load": model.load_seconds,
                  "imports": imported - started}))
"""


class Given:
    """An embedder that answers with vectors chosen ahead: the lookup without the model."""

    name = "bench"

    def __init__(self) -> None:
        self.next: Vector | None = None

    async def embed(self, texts: Sequence[str]) -> list[Vector | None]:
        assert self.next is not None
        return [self.next for _ in texts]

    async def aclose(self) -> None:
        pass


def _ask(text: str) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": text}], "temperature": 0}


def model_load() -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True, timeout=120, check=True)
    loaded: dict[str, float] = json.loads(done.stdout)
    return loaded


def embedding_latency(rounds: int) -> tuple[float, float, float]:
    """p50 and p99 ms per prompt alone, and ms per prompt in a batch of 16."""
    from switchyard.cache.semantic.minilm import MiniLM

    model = MiniLM()
    model.load()
    model.encode(PROMPTS)
    samples = []
    for i in range(rounds):
        text = PROMPTS[i % len(PROMPTS)]
        start = time.perf_counter()
        model.encode([text])
        samples.append(time.perf_counter() - start)
    samples.sort()
    batch = [PROMPTS[i % len(PROMPTS)] for i in range(16)]
    batches = []
    for _ in range(max(3, rounds // 16)):
        start = time.perf_counter()
        model.encode(batch)
        batches.append((time.perf_counter() - start) / 16)
    return (samples[len(samples) // 2] * 1e3, samples[int(len(samples) * 0.99)] * 1e3,
            statistics.median(batches) * 1e3)


async def lookups(entries: int, queries: int, store_url: str | None = None) -> dict[str, float]:
    """Fill one context with ``entries`` random unit vectors; time ``queries`` lookups near them."""
    rng = np.random.default_rng(entries)
    vectors = rng.standard_normal((entries, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = None if store_url is None else open_store(store_url, prefix=f"bench:{uuid.uuid4().hex[:8]}:")
    given = Given()
    settings = SemanticSettings(max_entries=entries, exact_numbers=False, ttl=3600)
    cache = SemanticCache(given, entries_for(store, max_entries=entries), settings=settings)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fill_started = time.perf_counter()
    try:
        for i in range(entries):
            given.next = vectors[i]
            await cache.store("tenant:bench", "chat", _ask(f"prompt {i}"), b'{"answer": "cached"}')
        fill = time.perf_counter() - fill_started
        index_bytes = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        targets = rng.integers(0, entries, queries)
        noise = rng.standard_normal((queries, DIM)).astype(np.float32) * 0.025
        asked = vectors[targets] + noise
        asked /= np.linalg.norm(asked, axis=1, keepdims=True)
        exact = 0
        samples = []
        gc.collect()
        for q in range(queries):
            given.next = asked[q]
            request = _ask(f"query {q}")
            start = time.perf_counter()
            hit = await cache.lookup("tenant:bench", "chat", request, threshold=0.5)
            samples.append(time.perf_counter() - start)
            if isinstance(hit, SemanticHit) and cache.index.slots[hit.entry_id].preview == f"prompt {int(np.argmax(vectors @ asked[q]))}":
                exact += 1
    finally:
        await cache.aclose()
        if store is not None:
            client = store.client  # type: ignore[attr-defined]
            keys = [k async for k in client.scan_iter(match=store.prefix + "*")]
            if keys:
                await client.delete(*keys)
            await store.aclose()
    samples.sort()
    return {"p50_ms": samples[len(samples) // 2] * 1e3, "p99_ms": samples[int(len(samples) * 0.99)] * 1e3,
            "recall": exact / queries, "bytes_per_entry": index_bytes / entries, "fill_s": fill}


STAGE_PROMPTS = ["What is the capital of France?", "What's the capital city of France?",
                 "Which city is the capital of France?", "Tell me the capital of France.",
                 "What is the French capital?", "Name the capital of France."]


async def stage_costs(iterations: int) -> dict[str, float]:
    """p50 ms in the cache stage: a semantic hit; a miss with and without the semantic cache (in a
    context that holds entries, so the lookup embeds its prompt; the store then reuses the vector)."""
    from switchyard.auth import Caller
    from switchyard.core.call import Call
    from switchyard.core.config import parse_config
    from switchyard.core.messages import ChatResponse, Usage, validate_chat
    from switchyard.core.registry import Registry
    from switchyard.gateway.services import Services

    fake = [{"provider": "fake", "model": "echo"}]
    raw = {"cache": {"semantic": {"preload": True}},
           "models": {"semantic": {"cache": {"semantic": {"threshold": 0.7}}, "deployments": fake},
                      "strict": {"cache": {"semantic": {"threshold": 0.99}}, "deployments": fake},
                      "exact": {"cache": {}, "deployments": fake}}}
    services = await Services.start(parse_config(raw), Registry())
    out: dict[str, float] = {}
    try:
        stage = services.cache
        assert stage is not None and stage.semantic is not None
        await stage.semantic.cache.embedder.warm()  # type: ignore[attr-defined]
        caller = Caller("bench", tenant="acme")
        answer = ChatResponse(body={"id": "x", "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}]},
            usage=Usage(5, 2))

        async def upstream(call: Any) -> Any:
            return answer

        def call_for(alias: str, text: str) -> Call:
            body = {"model": alias, "messages": [{"role": "user", "content": text}], "temperature": 0}
            call = Call("bench", request=validate_chat(body), caller=caller)
            call.group = services.catalog.resolve(alias)
            return call

        await stage.unary(call_for("semantic", STAGE_PROMPTS[0]), upstream)  # kept
        hits = []
        recent = stage.semantic.cache._recent  # type: ignore[attr-defined]
        for i in range(iterations):
            recent.clear()  # the vectors of recent prompts are kept: each hit here embeds its prompt again
            call = call_for("semantic", STAGE_PROMPTS[1 + i % (len(STAGE_PROMPTS) - 1)])
            start = time.perf_counter()
            await stage.unary(call, upstream)
            hits.append(time.perf_counter() - start)
            assert call.cached and "x-switchyard-cache-similarity" in call.response_headers, call.route
        out["hit"] = statistics.median(hits) * 1e3
        letters = random.Random(7)
        await stage.unary(call_for("strict", STAGE_PROMPTS[0]), upstream)  # its context holds an entry
        for alias in ("exact", "strict"):
            misses = []
            for i in range(iterations):
                # a topic of random letters: a new prompt in the same context (no numbers), below 0.99 to any kept
                topic = "".join(letters.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
                call = call_for(alias, f"{PROMPTS[i % len(PROMPTS)]} Topic: {topic}.")
                start = time.perf_counter()
                await stage.unary(call, upstream)
                misses.append(time.perf_counter() - start)
                assert not call.cached
            out[f"miss/{alias}"] = statistics.median(misses) * 1e3
    finally:
        await services.aclose()
    return out


def gateways_side_by_side(ctx: Context, rounds: int) -> list[tuple[str, float, float]]:
    """Medians over interleaved rounds: (name, req/s, CPU µs/request), every request a new prompt."""
    from bench.cache import MODEL, _config, _gateways, _load
    from bench.loadgen import run_load
    from bench.processes import cpu_seconds
    from switchyard.mock.runner import new_event_loop

    exact = _config(ctx.mock_url, ctx.master_key, {})
    semantic = _config(ctx.mock_url, ctx.master_key, {"semantic": {"preload": True}})
    semantic["models"][MODEL]["cache"] = {"semantic": True}
    runs: dict[str, list[tuple[float, float]]] = {"exact only": [], "semantic": []}
    seconds = max(ctx.duration / 2, 0.5)
    loop = new_event_loop()
    try:
        with _gateways(ctx, {"exact only": exact, "semantic": semantic}) as gateways:
            for _ in range(rounds):
                for name, gateway in gateways.items():
                    load = loop.run_until_complete(run_load(
                        _load(gateway.url, ctx.master_key, fresh=True), concurrency=16, duration=seconds,
                        warmup=min(0.5, seconds), max_requests=10**7, cpu_of=lambda pid=gateway.pid: cpu_seconds(pid)))
                    if load.ok and load.target_cpu is not None:
                        runs[name].append((load.rps, load.target_cpu / load.ok * 1e6))
    finally:
        loop.close()
    return [(name, statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
            for name, values in runs.items() if values]


def _redis() -> str | None:
    url = os.environ.get("SWITCHYARD_BENCH_REDIS", "redis://127.0.0.1:6379/0")

    async def probe() -> bool:
        store = open_store(url, connect_timeout=0.5, operation_timeout=0.5)
        try:
            await store.kv.get("probe")
            return True
        except Exception:
            return False
        finally:
            await store.aclose()

    return url if asyncio.run(probe()) else None


def measure(quick: bool = False, ctx: Context | None = None) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes: list[str] = []
    loaded = model_load()
    figures.append(Figure("MiniLM load, fresh process", loaded["total"] * 1e3, "ms",
                          f"(imports {loaded['imports'] * 1e3:.0f} ms, weights {loaded['load'] * 1e3:.0f} ms)", None))
    p50, p99, batched = embedding_latency(60 if quick else 300)
    figures.append(Figure("MiniLM embedding p50, one prompt", p50, "ms", f"(p99 {p99:.1f} ms; no target)", None))
    figures.append(Figure("MiniLM embedding, batch of 16", batched, "ms/prompt", "(no target)", None))
    sizes = (10_000,) if quick else (10_000, 100_000)
    queries = 200 if quick else 1_000
    for size in sizes:
        got = asyncio.run(lookups(size, queries))
        met = got["p50_ms"] <= LOOKUP_TARGET_MS if size == 100_000 else None
        figures.append(Figure(f"semantic lookup p50, {size:,} entries", got["p50_ms"], "ms",
                              f"<= {LOOKUP_TARGET_MS:g} ms at 100,000 (p99 {got['p99_ms']:.2f}; exact nearest "
                              f"{got['recall']:.1%}; {got['bytes_per_entry']:.0f} B/entry)", met))
    redis_url = _redis()
    if redis_url is None:
        notes.append("semantic: no Redis answered (SWITCHYARD_BENCH_REDIS); the Redis row was skipped")
    else:
        got = asyncio.run(lookups(10_000, queries, redis_url))
        figures.append(Figure("semantic lookup p50, 10,000 [redis]", got["p50_ms"], "ms",
                              f"(p99 {got['p99_ms']:.2f}; store {got['fill_s'] / 10_000 * 1e3:.2f} ms/entry)", None))
    costs = asyncio.run(stage_costs(30 if quick else 200))
    figures.append(Figure("semantic hit in the stage p50", costs["hit"], "ms", "(embedding included)", None))
    figures.append(Figure("miss in the stage p50, exact only", costs["miss/exact"], "ms", "(shown)", None))
    figures.append(Figure("miss in the stage p50, + semantic", costs["miss/strict"], "ms",
                          "(embedding, lookup and store added)", None))
    if ctx is not None and ctx.gateway_url is not None:
        for name, rps, cpu in gateways_side_by_side(ctx, 1 if quick else 4):
            figures.append(Figure(f"gateway, every request a miss, c16 [{name}]", rps, "req/s",
                                  f"(CPU {cpu:,.0f} µs/request)", None))
    return figures, notes


def semantic(ctx: Context | None = None) -> SectionResult:
    """The benchmark section."""
    quick = ctx is not None and ctx.duration < 1
    figures, notes = measure(quick, ctx)
    if ctx is not None:
        ctx.notes.extend(notes)
    return SectionResult(figures=figures)


def main() -> int:
    figures, notes = measure("--quick" in sys.argv)
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:,.2f} {f.unit}"
        verdict = "" if f.met is None else ("  ok" if f.met else "  MISSED")
        print(f"{f.name:38} {value:>18}   target {f.target}{verdict}")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
