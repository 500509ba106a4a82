"""Retrieval components: ``python -m bench.components [--quick]``.

* ingestion with the offline model (all-MiniLM-L6-v2, numpy, one BLAS thread): Markdown documents
  split (200 tokens), embedded and added to the exact index — chunks/s end to end; the embedder
  alone — texts/s for chunk-sized texts (~150 words) and short ones (a query);
* search p50/p99 for each index at 10,000 and 100,000 chunks (``--quick``: 10,000 only) of
  unit vectors of 384 dimensions around 200 centres (clustered as embeddings are), k=10: the exact in-memory index, usearch (HNSW; its
  recall@10 against the exact answer too), the SQL index on SQLite (a file) and, with
  ``SWITCHYARD_BENCH_POSTGRES=postgresql://…``, on PostgreSQL — each search includes its
  "changed since?" query; the time to add the chunks;
* the shared index's freshness check alone — the one query a search adds — beside the
  equivalent on plain Redis (an XRANGE of a change stream) with ``SWITCHYARD_BENCH_REDIS``;
* a hybrid query (the query embedded by the offline model, vector + BM25 over 10,000 chunks of
  text, fused by RRF): p50 and p99.

Figures are printed; nothing is asserted (the tests assert behaviour).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from switchyard.components.bm25 import BM25Retriever
from switchyard.components.embedders import MiniLMEmbedder
from switchyard.components.index_memory import ExactIndex
from switchyard.components.index_sql import SqlIndex
from switchyard.components.index_usearch import UsearchIndex
from switchyard.components.ingest import Ingestion
from switchyard.components.protocols import Chunk, Document
from switchyard.components.retrievers import HybridRetriever, VectorRetriever
from switchyard.components.splitters import MarkdownSplitter

DIM = 384
WORDS = ("gateway router model token budget cache index vector tenant chunk query answer stream retry breaker "
         "limit region spend audit key team policy guard prompt embed search rank fuse hybrid loader splitter "
         "pipeline config redis postgres sqlite memory thread batch worker queue event latency throughput").split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) + (str(rng.randrange(500)) if rng.random() < 0.2 else "") for _ in range(words))


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit vectors around 200 centres (embeddings of real text cluster by topic; uniform noise has no
    neighbourhoods for a graph index to follow)."""
    centres = np.random.default_rng(7).standard_normal((200, DIM)).astype(np.float32)
    m = centres[rng.integers(0, 200, n)] + rng.standard_normal((n, DIM)).astype(np.float32) * 0.8
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def chunks_of(n: int, rng: random.Random | None = None) -> list[Chunk]:
    return [Chunk(id=f"c{i}", text=text(rng, 60) if rng else "", document=f"d{i // 10}",
                  metadata={"source": f"d{i // 10}.md"}) for i in range(n)]


async def timed(fn: Callable[[], Awaitable[Any]], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def ingestion(embedder: MiniLMEmbedder) -> None:
    rng = random.Random(1)
    documents = [Document(id=f"doc{i}.md", text="\n\n".join(f"## Section {s}\n\n{text(rng, 180)}" for s in range(4)),
                          source=f"doc{i}.md", metadata={"source": f"doc{i}.md", "sha256": str(i)}) for i in range(40)]
    ingest = Ingestion(loader=None, splitter=MarkdownSplitter(size=200), embedder=embedder, index=ExactIndex())
    started = time.perf_counter()
    added = await ingest.add(documents)
    seconds = time.perf_counter() - started
    print(f"ingestion (split 200 tokens, embed, add): {len(added)} chunks in {seconds:.2f} s = "
          f"{len(added) / seconds:.1f} chunks/s")
    texts = [c.text for c in added][:128]
    started = time.perf_counter()
    await embedder.embed(texts)
    seconds = time.perf_counter() - started
    print(f"embedder, chunk-sized texts: {len(texts) / seconds:.1f} texts/s")
    short = [text(rng, 8) for _ in range(128)]
    started = time.perf_counter()
    await embedder.embed(short)
    seconds = time.perf_counter() - started
    print(f"embedder, query-sized texts (8 words): {len(short) / seconds:.1f} texts/s")


async def search(name: str, index: Any, n: int, rounds: int, exact: ExactIndex | None = None) -> None:
    rng = np.random.default_rng(n)
    matrix = unit(rng, n)
    items = chunks_of(n)
    started = time.perf_counter()
    for start in range(0, n, 5000):
        await index.add(items[start:start + 5000], matrix[start:start + 5000])
    added = time.perf_counter() - started
    queries = unit(rng, rounds)
    await index.search(queries[0], 10)  # the first search of the SQL index reads every row into its mirror
    i = iter(range(rounds))
    times = await timed(lambda: index.search(queries[next(i)], 10), rounds)
    line = f"{name:<16} {n:>7} chunks: add {added:6.2f} s, search p50 {p(times, 50):7.3f} ms p99 {p(times, 99):7.3f} ms"
    if exact is not None:
        found = 0
        for q in queries[:100]:
            truth = {h.chunk.id for h in await exact.search(q, 10)}
            found += len(truth & {h.chunk.id for h in await index.search(q, 10)})
        line += f", recall@10 vs exact {found / 1000:.3f}"
    print(line)


async def freshness(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        index = SqlIndex(url=f"sqlite:///{folder}/f.db")
        await index.add(chunks_of(1), unit(np.random.default_rng(0), 1))
        await index.version()
        times = await timed(lambda: index._sync("default"), rounds)
        print(f"freshness check, SQLite: p50 {p(times, 50):.3f} ms p99 {p(times, 99):.3f} ms")
        await index.aclose()
    if os.environ.get("SWITCHYARD_BENCH_POSTGRES"):
        index = SqlIndex(url=os.environ["SWITCHYARD_BENCH_POSTGRES"], table="bench_fresh")
        await index.version()
        times = await timed(lambda: index._sync("default"), rounds)
        print(f"freshness check, PostgreSQL: p50 {p(times, 50):.3f} ms p99 {p(times, 99):.3f} ms")
        await index.aclose()
    if os.environ.get("SWITCHYARD_BENCH_REDIS"):
        import redis.asyncio as redis

        client = redis.from_url(os.environ["SWITCHYARD_BENCH_REDIS"])
        await client.xadd("bench:changes", {"id": "c0"})
        times = await timed(lambda: client.xrange("bench:changes", min="(99999999999999-0", count=5000), rounds)
        print(f"freshness check, Redis XRANGE: p50 {p(times, 50):.3f} ms p99 {p(times, 99):.3f} ms")
        await client.delete("bench:changes")
        await client.aclose()


async def hybrid(embedder: MiniLMEmbedder, n: int, rounds: int) -> None:
    rng = random.Random(3)
    index = ExactIndex()
    await index.add(chunks_of(n, rng), unit(np.random.default_rng(3), n))
    dense = VectorRetriever(embedder=embedder, index=index)
    both = HybridRetriever(retrievers=[dense, BM25Retriever(index=index)])
    started = time.perf_counter()
    await both.retrieve("warm up", 10)  # builds the BM25 model
    print(f"BM25 model over {n} chunks built in {time.perf_counter() - started:.2f} s")
    queries = [text(rng, 6) for _ in range(rounds)]
    i = iter(range(rounds))
    times = await timed(lambda: both.retrieve(queries[next(i)], 10), rounds)
    print(f"hybrid query ({n} chunks, query embedded): p50 {p(times, 50):.2f} ms p99 {p(times, 99):.2f} ms")
    i = iter(range(rounds))
    times = await timed(lambda: dense.retrieve(queries[next(i)], 10), rounds)
    print(f"vector query alone (embedding included): p50 {p(times, 50):.2f} ms")


async def main(quick: bool) -> None:
    embedder = MiniLMEmbedder()
    await embedder._embedder.warm()
    try:
        await ingestion(embedder)
        sizes = (10_000,) if quick else (10_000, 100_000)
        for n in sizes:
            exact = ExactIndex()
            await search("memory (exact)", exact, n, 200)
            await search("usearch (HNSW)", UsearchIndex(), n, 200, exact=exact)
            with tempfile.TemporaryDirectory() as folder:
                sql = SqlIndex(url=f"sqlite:///{folder}/bench.db")
                await search("sql (SQLite)", sql, n, 200)
                await sql.aclose()
            if os.environ.get("SWITCHYARD_BENCH_POSTGRES"):
                sql = SqlIndex(url=os.environ["SWITCHYARD_BENCH_POSTGRES"], table=f"bench_{n}")
                await search("sql (PostgreSQL)", sql, n, 200)
                async with sql.engine.begin() as conn:
                    await conn.run_sync(sql.metadata.drop_all)
                await sql.aclose()
        await freshness(500)
        await hybrid(embedder, 10_000, 100)
    finally:
        await embedder.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 chunks only")
    asyncio.run(main(parser.parse_args().quick))
