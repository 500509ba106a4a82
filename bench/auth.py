"""Authentication overhead, in-process: ``python -m bench.auth`` or the ``auth`` section of ``python -m bench.run``.

Times ``Authenticator.authenticate`` — what the server runs for every request —
for a static config key and for virtual keys drawn at random from a snapshot of
100,000, each with a budget and rpm/tpm limits, in 100 teams (limits, budgets)
of 10 tenants (budgets). Reports p50/p99 in microseconds and the difference of
the p50s against the 50 µs target. Also: how long loading those keys from a
SQLite file takes (the directory's full load, as at start-up), and the memory
the snapshot holds.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import sqlalchemy as sa

from bench.harness import Context, Figure, SectionResult
from switchyard.auth import Authenticator
from switchyard.core.config import AuthConfig
from switchyard.governance.entities import Budget, Key, Team, Tenant
from switchyard.governance.keygen import new_id, new_secret
from switchyard.governance.snapshot import KeySnapshot
from switchyard.governance.sql_directory import SqlDirectory, to_row
from switchyard.storage import open_store
from switchyard.storage import sql_schema as schema
from switchyard.storage.sql import SqlStore

KEYS = 100_000
TARGET_US = 50.0
STATIC = "sk-bench-static-key"


def directory_records(count: int) -> tuple[list[Tenant | Team | Key], list[str]]:
    """``count`` keys with budgets and limits in 100 teams of 10 tenants, and their secrets."""
    tenants = [Tenant(id=new_id("tenant"), name=f"tenant-{i}", budget=Budget(amount=10_000), revision=1)
               for i in range(10)]
    teams = [Team(id=new_id("team"), tenant_id=tenants[i % 10].id, name=f"team-{i}", rpm=6000, tpm=1_000_000,
                  budget=Budget(amount=1000, period="daily"), revision=1) for i in range(100)]
    keys: list[Tenant | Team | Key] = []
    secrets: list[str] = []
    budget = Budget(amount=25, period="monthly")  # as the directory's load shares equal budgets
    for i in range(count):
        secret = new_secret()
        team = teams[i % 100]
        keys.append(Key(id=new_id("key"), name=f"key-{i}", prefix=secret.prefix, digest=secret.digest,
                        tenant_id=team.tenant_id, team_id=team.id, rpm=60, tpm=100_000,
                        budget=budget, tags=("bench",), revision=1))
        secrets.append(secret.value)
    return [*tenants, *teams, *keys], secrets


def _percentiles(samples: list[int]) -> tuple[float, float]:
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def measure(keys: int = KEYS, iterations: int = 200_000) -> dict[str, float]:
    records, secrets = directory_records(keys)
    gc.collect()
    started = time.perf_counter()
    for _ in KeySnapshot().apply(records, 1):
        pass
    built = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()  # a second build, traced: what the snapshot holds beyond the records
    before = tracemalloc.get_traced_memory()[0]
    snapshot = KeySnapshot()
    for _ in snapshot.apply(records, 1):
        pass
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    auth = Authenticator(AuthConfig.model_validate({"master_key": "sk-bench-master",
                                                    "keys": [{"key": STATIC, "name": "static"}]}), snapshot,
                         enabled=True)
    rng = random.Random(5)
    static_header = f"Bearer {STATIC}"
    virtual_headers = [f"Bearer {rng.choice(secrets)}" for _ in range(iterations)]
    clock = time.perf_counter_ns
    gc.collect()
    static: list[int] = []
    virtual: list[int] = []
    for header in virtual_headers:  # interleaved, so drift on a shared machine hits both alike
        start = clock()
        auth.authenticate(static_header, None)
        middle = clock()
        caller = auth.authenticate(header, None)
        end = clock()
        static.append(middle - start)
        virtual.append(end - middle)
        assert caller.budgets
    s50, s99 = _percentiles(static)
    v50, v99 = _percentiles(virtual)
    return {"static_p50": s50, "static_p99": s99, "virtual_p50": v50, "virtual_p99": v99,
            "build_s": built, "snapshot_mb": held / 1e6}


async def load_from_sqlite(keys: int = KEYS) -> float:
    """Seconds to load ``keys`` keys (with their owners) from a SQLite file into a fresh snapshot."""
    records, _ = directory_records(keys)
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-auth-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'keys.db'}")
        assert isinstance(store, SqlStore)
        directory = SqlDirectory(store)
        try:
            await directory.start()
            async with store.engine.begin() as conn:  # one bulk insert: the bench measures reading
                for kind in ("tenant", "team", "key"):
                    rows = [to_row(r) for r in records if r.kind == kind]
                    for at in range(0, len(rows), 5000):
                        await conn.execute(sa.insert(schema.ENTITY_TABLES[kind]), rows[at:at + 5000])
                await conn.execute(sa.update(schema.directory).values(revision=1))
            started = time.perf_counter()
            snapshot = KeySnapshot()
            for _ in snapshot.apply((await directory.changes(0)).records, 1):
                pass
            elapsed = time.perf_counter() - started
            assert len(snapshot) == keys
        finally:
            await store.aclose()
    return elapsed


def auth(ctx: Context | None = None) -> SectionResult:
    """The benchmark section: authentication overhead of virtual keys, and their load time."""
    quick = ctx is not None and ctx.duration < 1
    figures = measure(KEYS, 20_000 if quick else 200_000)
    extra = figures["virtual_p50"] - figures["static_p50"]
    result = SectionResult()
    result.figures.append(Figure("auth: 100k virtual keys, +p50 over static", extra, "µs",
                                 f"<= {TARGET_US:.0f} µs (static p50 {figures['static_p50']:.2f}, "
                                 f"virtual p50 {figures['virtual_p50']:.2f}, p99 {figures['virtual_p99']:.2f})",
                                 extra <= TARGET_US))
    result.figures.append(Figure("auth: 100k keys snapshot", figures["snapshot_mb"], "MB", "(memory held)", None))
    if not quick:
        loaded = asyncio.run(load_from_sqlite(KEYS))
        result.figures.append(Figure("auth: load 100k keys (SQLite)", loaded, "s", "(full reload, start-up)", None))
    return result


def main() -> int:
    print(f"authentication overhead: a static key vs virtual keys drawn from {KEYS:,} (in-process)")
    figures = measure()
    extra = figures["virtual_p50"] - figures["static_p50"]
    print(f"{'static key':28} p50 {figures['static_p50']:6.2f} µs   p99 {figures['static_p99']:6.2f} µs")
    print(f"{'virtual key (of 100k)':28} p50 {figures['virtual_p50']:6.2f} µs   p99 {figures['virtual_p99']:6.2f} µs")
    print(f"{'added p50':28} {extra:6.2f} µs   target <= {TARGET_US:.0f} µs {'ok' if extra <= TARGET_US else 'MISSED'}")
    print(f"{'snapshot':28} {figures['snapshot_mb']:.0f} MB, built in {figures['build_s']:.2f} s")
    print(f"{'load from SQLite':28} {asyncio.run(load_from_sqlite()):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
