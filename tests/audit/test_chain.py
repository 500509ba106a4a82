"""The audit chain on a real SQLite file and the real PostgreSQL: every kind of
tampering is caught by ``switchyard audit verify``, retention keeps it verifiable,
and several writers extend one chain without gaps."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from switchyard.audit.chain import Entry, verify
from switchyard.audit.sql_store import SqlAuditStore
from switchyard.audit.store import MemoryAuditStore, audit_store_for
from switchyard.cli.main import main
from switchyard.storage import open_store
from switchyard.storage.migrate import upgrade


def switchyard(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["switchyard", *args], code, out.getvalue(), err.getvalue())


def entries(n: int, start: float = 1_000.0, actor: str = "alice") -> list[Entry]:
    return [Entry(start + i, "admin", actor, "key.update", f"key-{i}", "127.0.0.1",
                  {"before": {"rpm": i}, "after": {"rpm": i + 1}}) for i in range(n)]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    asyncio.run(upgrade(url))
    return url


async def _append(url: str, batches: list[list[Entry]]) -> None:
    store = open_store(url)
    try:
        audits = audit_store_for(store)
        assert isinstance(audits, SqlAuditStore)
        for batch in batches:
            await audits.append(batch)
    finally:
        await store.aclose()


def _tamper_sqlite(url: str, sql: str, *params: Any) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute(sql, params)


def test_an_intact_chain_verifies(sqlite_url: str) -> None:
    asyncio.run(_append(sqlite_url, [entries(3), entries(4, start=2_000.0)]))
    done = switchyard("audit", "verify", "--url", sqlite_url)
    assert done.returncode == 0 and "intact: 7 entries" in done.stdout


@pytest.mark.parametrize("tamper, bad_id, words", [
    ("UPDATE sy_audit SET data = replace(data, '\"rpm\":2', '\"rpm\":9') WHERE id = 3", 3, "altered"),
    ("UPDATE sy_audit SET actor = 'mallory' WHERE id = 2", 2, "column disagrees"),
    ("UPDATE sy_audit SET hash = 'f' || substr(hash, 2) WHERE id = 4", 4, "content does not match"),
    ("DELETE FROM sy_audit WHERE id = 3", 3, "missing"),
    ("DELETE FROM sy_audit WHERE id >= 5", 5, "removed from the end"),
])
def test_every_kind_of_tampering_is_named(sqlite_url: str, tamper: str, bad_id: int, words: str) -> None:
    asyncio.run(_append(sqlite_url, [entries(6)]))
    _tamper_sqlite(sqlite_url, tamper)
    done = switchyard("audit", "verify", "--url", sqlite_url)
    assert done.returncode == 1, done.stdout
    assert f"BROKEN at entry {bad_id}" in done.stdout and words in done.stdout


def test_an_edited_row_is_detected_on_postgresql(postgres_url: str) -> None:
    import asyncpg

    asyncio.run(upgrade(postgres_url))
    asyncio.run(_append(postgres_url, [entries(5)]))
    assert switchyard("audit", "verify", "--url", postgres_url).returncode == 0
    server, schema = postgres_url.split("?schema=")

    async def edit() -> None:
        connection = await asyncpg.connect(server)
        try:
            await connection.execute(f'UPDATE "{schema}".sy_audit SET target = $1 WHERE id = 2', "key-other")
        finally:
            await connection.close()

    asyncio.run(edit())
    done = switchyard("audit", "verify", "--url", postgres_url)
    assert done.returncode == 1 and "BROKEN at entry 2" in done.stdout


def test_concurrent_writers_extend_one_chain_without_gaps(postgres_url: str) -> None:
    """Two stores (as two gateway processes would hold) appending at once to one database."""
    asyncio.run(upgrade(postgres_url))

    async def run() -> list[int]:
        stores = [open_store(postgres_url) for _ in range(2)]
        try:
            writers = [audit_store_for(s) for s in stores]
            results = await asyncio.gather(*(w.append(entries(5, start=float(i * 100 + j * 10), actor=f"w{i}"))
                                             for j in range(4) for i, w in enumerate(writers) if w is not None))
            head = await writers[0].head()  # type: ignore[union-attr]
            verdict = await verify(head, writers[1].scan())  # type: ignore[union-attr]
            assert verdict.ok and verdict.checked == 40
            return sorted(i for ids in results for i in ids)
        finally:
            for s in stores:
                await s.aclose()

    assert asyncio.run(run()) == list(range(1, 41))


def test_pruning_keeps_the_rest_verifiable_and_only_removes_the_old(sqlite_url: str) -> None:
    asyncio.run(_append(sqlite_url, [entries(10, start=1_000.0)]))

    async def prune() -> tuple[int, int]:
        store = open_store(sqlite_url)
        try:
            audits = audit_store_for(store)
            assert audits is not None
            removed = await audits.prune(1_004.0)  # entries at 1000..1003 are older
            await audits.append(entries(2, start=5_000.0))
            return removed, len([r async for r in audits.scan()])
        finally:
            await store.aclose()

    removed, kept = asyncio.run(prune())
    assert (removed, kept) == (4, 8)
    done = switchyard("audit", "verify", "--url", sqlite_url)
    assert done.returncode == 0 and "intact: 8 entries" in done.stdout
    _tamper_sqlite(sqlite_url, "DELETE FROM sy_audit WHERE id = 5")  # the first kept one
    assert switchyard("audit", "verify", "--url", sqlite_url).returncode == 1


def test_the_memory_store_chains_and_prunes_alike() -> None:
    async def run() -> None:
        store = MemoryAuditStore()
        await store.append(entries(5))
        assert (await verify(await store.head(), store.scan())).ok
        assert await store.prune(1_002.0) == 2
        assert (await verify(await store.head(), store.scan())).checked == 3
        store.rows[1] = store.rows[2]  # a swapped row
        assert not (await verify(await store.head(), store.scan())).ok

    asyncio.run(run())


def test_verify_refuses_stores_without_an_audit_log() -> None:
    done = switchyard("audit", "verify", "--url", "memory://")
    assert done.returncode == 2 and "keeps no audit log" in done.stderr


def test_a_gateway_with_retention_prunes_old_entries_when_it_starts(sqlite_url: str) -> None:
    import time

    from switchyard.audit.log import AuditLog
    from switchyard.core.config.audit import AuditConfig

    asyncio.run(_append(sqlite_url, [entries(3, start=1_000.0), entries(2, start=time.time())]))

    async def run() -> int:
        store = open_store(sqlite_url)
        try:
            audits = audit_store_for(store)
            assert audits is not None
            log = AuditLog(audits, AuditConfig(retention_days=30))
            log.start()
            await asyncio.wait_for(log.pruned.wait(), 10)
            await log.admin("owner", "settings.update", "audit")
            verdict = await log.verify()
            await log.aclose()
            return verdict.checked
        finally:
            await store.aclose()

    assert asyncio.run(run()) == 3  # 2 recent + the admin entry; the 3 ancient ones gone
