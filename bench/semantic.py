"""The semantic cache, in-process: ``python -m bench.semantic`` or the ``semantic`` section of ``python -m bench.run``.

* the offline model (all-MiniLM-L6-v2 with numpy): its load time in a fresh process (imports
  included, then the load alone) and the embedding latency per prompt, alone and in a batch of 16;
* a lookup, the embedding excluded (the prompt's context digest, the index search, reading the
  answer): p50 and p99 at 10,000 and 100,000 entries of one context, synthetic random unit
  vectors of the model's 384 dimensions, each query at cosine ~0.9 to a stored one; target
  p50 <= 5 ms at 100,000; the share of lookups that found the exact nearest (the binary
  prefilter's recall); the index's memory per entry;
* the same lookup with the entries in Redis on loopback (``SWITCHYARD_BENCH_REDIS``): one GET more.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
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


def measure(quick: bool = False) -> tuple[list[Figure], list[str]]:
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
    return figures, notes


def semantic(ctx: Context | None = None) -> SectionResult:
    """The benchmark section."""
    quick = ctx is not None and ctx.duration < 1
    figures, notes = measure(quick)
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
