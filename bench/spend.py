"""Budgets and spend, in-process: ``python -m bench.spend`` or the ``spend`` section of ``python -m bench.run``.

* the spend writer: records per second through ``SpendLog`` (bounded buffer, batches of
  ``spend.batch``, one multi-row INSERT each) into PostgreSQL (``SWITCHYARD_BENCH_POSTGRES``,
  default ``postgresql://postgres@127.0.0.1:5432/test``, in a schema of its own, dropped after)
  and into a SQLite file; target ≥ 10,000 records/s into PostgreSQL;
* a budget's reserve + settle per request (what the budget stage adds): in memory and in
  Redis on loopback (``SWITCHYARD_BENCH_REDIS``); targets p50 ≤ 100 µs / ≤ 1 ms;
* pricing one answer (``PriceSheet.cost``), target ≤ 5 µs.

Sections whose server does not answer are skipped with a note.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import Context, Figure, SectionResult
from switchyard.budgets import BudgetLedger, BudgetLimit
from switchyard.core.call import Call
from switchyard.core.config import Budget, SpendConfig
from switchyard.core.messages import Usage
from switchyard.pricing.table import lookup
from switchyard.spend import SpendLog, SpendRecord
from switchyard.spend.sql_store import SqlSpendStore
from switchyard.storage import open_store
from switchyard.storage.migrate import upgrade

WRITER_TARGET = 10_000.0
BUDGET_TARGETS_US = {"memory": 100.0, "redis": 1000.0}
PRICE_TARGET_US = 5.0


def _record(i: int) -> SpendRecord:
    return SpendRecord(
        at=time.time(), request_id=f"req_{i:012x}", key=f"key-{i % 1000}", key_id=f"key_{i % 1000:016x}",
        user=None, team=f"team-{i % 50}", team_id=None, tenant=f"tenant-{i % 10}", alias="gpt-4o-mini", model="gpt-4o-mini", deployment="gpt-4o-mini#0",
        provider="openai", kind="chat", stream=bool(i & 1), status=200, error=None, prompt_tokens=412,
        completion_tokens=128, cached_tokens=256, cache_write_tokens=None, reasoning_tokens=0,
        cost_usd=0.0001387, priced=True, estimated=False, latency_ms=812.4, cached=False, coalesced=False)


async def writer_rate(url: str, count: int, batch: int = 500) -> float:
    """Records per second from the first put to the last row committed."""
    await upgrade(url)
    durable = open_store(url)
    try:
        log = SpendLog(SqlSpendStore(durable.engine), SpendConfig(records=True, buffer=20_000, batch=batch))  # type: ignore[attr-defined]
        log.start()
        records = [_record(i) for i in range(count)]
        started = time.perf_counter()
        put = log.writer.put
        for record in records:
            if not log.writer.add(record):
                await put(record)
        await log.writer.flushed()
        elapsed = time.perf_counter() - started
        await log.aclose()
        assert log.writer.written == count and log.writer.dropped == 0
        return count / elapsed
    finally:
        await durable.aclose()


async def budget_overhead(store_url: str, iterations: int) -> tuple[float, float]:
    """p50 and p99 µs of reserve + settle against a key's and a team's budget."""
    store = open_store(store_url, prefix=f"bench:{uuid.uuid4().hex[:8]}:")
    try:
        ledger = BudgetLedger(store.counters)
        limits = (BudgetLimit("key", "k1", "k1", Budget(amount=1e9, period="monthly")),
                  BudgetLimit("team", "t1", "t1", Budget(amount=1e9, period="daily", timezone="Europe/Paris")))
        call = Call("bench")
        call.cost = 0.0001
        clock = time.perf_counter_ns
        for _ in range(min(200, iterations)):
            holds = await ledger.reserve(limits, 0.0002)
            await holds.settle(call)
        gc.collect()
        samples = []
        for _ in range(iterations):
            start = clock()
            holds = await ledger.reserve(limits, 0.0002)
            await holds.settle(call)
            samples.append(clock() - start)
    finally:
        await store.aclose()
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def price_cost_us(iterations: int = 200_000) -> float:
    sheet = lookup("anthropic", "claude-sonnet-4-5")  # tiers and cache prices: the longest path
    usage = Usage(prompt_tokens=2006, completion_tokens=300, cached_tokens=1920, cache_write_tokens=0)
    cost = sheet.cost
    start = time.perf_counter()
    for _ in range(iterations):
        cost(usage)
    return (time.perf_counter() - start) / iterations * 1e6


def _answers(url: str) -> bool:
    async def probe() -> bool:
        store = open_store(url, connect_timeout=0.5, operation_timeout=0.5) if url.startswith("redis") else open_store(url)
        try:
            if url.startswith("redis"):
                await store.kv.get("probe")
            else:
                async with store.engine.connect():  # type: ignore[attr-defined]
                    pass
            return True
        except Exception:
            return False
        finally:
            await store.aclose()

    return asyncio.run(probe())


def _postgres_url() -> tuple[str, str] | None:
    server = os.environ.get("SWITCHYARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    if not _answers(server):
        return None
    return server, f"bench_spend_{uuid.uuid4().hex[:8]}"


def _drop_schema(server: str, schema: str) -> None:
    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(server.replace("postgresql+asyncpg", "postgresql"))
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()

    asyncio.run(drop())


def measure(quick: bool = False) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes: list[str] = []
    count = 20_000 if quick else 200_000
    postgres = _postgres_url()
    if postgres is None:
        notes.append("spend: no PostgreSQL answered (SWITCHYARD_BENCH_POSTGRES); the writer row was skipped")
    else:
        server, schema = postgres
        try:
            rate = asyncio.run(writer_rate(f"{server}?schema={schema}", count))
        finally:
            _drop_schema(server, schema)
        figures.append(Figure("spend writer -> PostgreSQL", rate, "records/s", f">= {WRITER_TARGET:,.0f}",
                              rate >= WRITER_TARGET))
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp:
        rate = asyncio.run(writer_rate(f"sqlite:///{Path(tmp) / 'spend.db'}", count // 4))
    figures.append(Figure("spend writer -> SQLite", rate, "records/s", "(no target)", None))
    iterations = 1_000 if quick else 5_000
    cases = [("memory", "memory://")]
    redis_url = os.environ.get("SWITCHYARD_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    if _answers(redis_url):
        cases.append(("redis", redis_url))
    else:
        notes.append("spend: no Redis answered (SWITCHYARD_BENCH_REDIS); the budget row in Redis was skipped")
    for backend, url in cases:
        p50, p99 = asyncio.run(budget_overhead(url, iterations if backend == "memory" else max(500, iterations // 5)))
        target = BUDGET_TARGETS_US[backend]
        figures.append(Figure(f"budget 2 scopes [{backend}] p50", p50, "µs", f"<= {target:.0f} µs (p99 {p99:.1f})",
                              p50 <= target))
    cost = price_cost_us(20_000 if quick else 200_000)
    figures.append(Figure("pricing one answer", cost, "µs", f"<= {PRICE_TARGET_US:g} µs", cost <= PRICE_TARGET_US))
    return figures, notes


def spend(ctx: Context | None = None) -> SectionResult:
    """The benchmark section."""
    quick = ctx is not None and ctx.duration < 1
    figures, notes = measure(quick)
    if ctx is not None:
        ctx.notes.extend(notes)
    return SectionResult(figures=figures)


def main() -> int:
    figures, notes = measure("--quick" in sys.argv)
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:,.1f} {f.unit}"
        verdict = "" if f.met is None else ("  ok" if f.met else "  MISSED")
        print(f"{f.name:34} {value:>22}   target {f.target}{verdict}")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
