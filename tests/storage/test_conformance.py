"""One contract, every backend: memory, a SQLite file, the real Redis, the real PostgreSQL.

Each test gets a fresh store: a unique key prefix (Redis), a unique schema
(PostgreSQL, migrated with the package's Alembic scripts), a new file (SQLite).
Shared backends are also opened twice, as two replicas would.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from switchyard.storage import Job, Refusal, Reservation, Store, open_store
from switchyard.storage.migrate import upgrade

BACKENDS = ["memory", "sqlite", "redis", "postgresql"]


@dataclass
class Opened:
    store: Store
    #: Opens another store on the same state (another replica); None for memory.
    again: Callable[[], Store] | None
    name: str


@pytest.fixture(params=BACKENDS)
async def opened(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opened]:
    name = request.param
    prefix = f"sytest:{uuid.uuid4().hex[:12]}:"
    if name == "memory":
        url = "memory://"
    elif name == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        await upgrade(url)
    elif name == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = request.getfixturevalue("postgres_url")
        await upgrade(url)
    extra: list[Store] = []

    def again() -> Store:
        store = open_store(url, prefix=prefix)
        extra.append(store)
        return store

    store = open_store(url, prefix=prefix)
    try:
        yield Opened(store, None if name == "memory" else again, name)
    finally:
        if name == "redis":
            keys = [k async for k in store.client.scan_iter(match=prefix + "*")]  # type: ignore[attr-defined]
            if keys:
                await store.client.delete(*keys)  # type: ignore[attr-defined]
        for other in extra:
            await other.aclose()
        await store.aclose()


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 5.0) -> Any:
    """Poll ``check`` (bounded) until it returns something truthy: for clocks, not for events."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


# -- counters -------------------------------------------------------------------------------------

async def test_concurrent_reserves_never_pass_the_limit(opened: Opened) -> None:
    stores = [opened.store, opened.again()] if opened.again else [opened.store]
    results = await asyncio.gather(*(stores[i % len(stores)].counters.reserve("rpm", 1, 10, 60) for i in range(50)))
    granted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, Refusal)]
    assert len(granted) == 10 and len(refused) == 40
    assert all(r.granted for r in granted) and not any(r.granted for r in refused)
    assert all(0 < r.retry_after <= 60.5 for r in refused)
    assert isinstance(await opened.store.counters.reserve("other", 1, 10, 60), Reservation)  # keys are separate


async def test_refund_and_settle_correct_the_reservation(opened: Opened) -> None:
    counters = opened.store.counters
    first = await counters.reserve("tpm", 8, 10, 60)
    assert isinstance(first, Reservation) and first.left == pytest.approx(2)
    assert isinstance(await counters.reserve("tpm", 5, 10, 60), Refusal)
    await counters.refund(first)
    second = await counters.reserve("tpm", 6, 10, 60)
    assert isinstance(second, Reservation) and second.left == pytest.approx(4)
    await counters.settle(second, 2)  # used less than reserved: the rest comes back
    assert isinstance(await counters.reserve("tpm", 8, 10, 60), Reservation)
    assert isinstance(await counters.reserve("tpm", 1, 10, 60), Refusal)

    third = await counters.reserve("stream", 5, 10, 60)
    assert isinstance(third, Reservation)
    await counters.settle(third, 9)  # used more than reserved: the extra counts
    assert isinstance(await counters.reserve("stream", 2, 10, 60), Refusal)
    assert isinstance(await counters.reserve("stream", 1, 10, 60), Reservation)


async def test_more_than_the_limit_never_fits(opened: Opened) -> None:
    refusal = await opened.store.counters.reserve("big", 11, 10, 60)
    assert isinstance(refusal, Refusal) and math.isinf(refusal.retry_after)


async def test_room_comes_back_when_the_window_moves(opened: Opened) -> None:
    counters = opened.store.counters
    assert isinstance(await counters.reserve("short", 3, 3, 0.3), Reservation)
    refusal = await counters.reserve("short", 1, 3, 0.3)
    assert isinstance(refusal, Refusal) and 0 < refusal.retry_after <= 0.31
    await asyncio.sleep(refusal.retry_after)  # the window's own answer: room is back then
    assert await eventually(lambda: _granted(counters.reserve("short", 1, 3, 0.3)), within=1.0)


async def _granted(reserving: Awaitable[Reservation | Refusal]) -> bool:
    return (await reserving).granted


# -- key-value ------------------------------------------------------------------------------------

async def test_kv_get_set_if_absent_replace_delete(opened: Opened) -> None:
    kv = opened.store.kv
    assert await kv.get("k") is None
    assert await kv.set_if_absent("k", b"one")
    assert not await kv.set_if_absent("k", b"two")
    assert await kv.get("k") == b"one"
    assert not await kv.replace("k", b"wrong", b"three")
    assert await kv.replace("k", b"one", b"three")
    assert await kv.get("k") == b"three"
    assert not await kv.replace("new", b"x", b"y")
    assert await kv.replace("new", None, b"y")  # None: only when absent
    await kv.set("k", b"\x00\xffbinary")
    assert await kv.get("k") == b"\x00\xffbinary"
    assert await kv.delete("k")
    assert not await kv.delete("k")
    assert await kv.get("k") is None
    if opened.again:
        assert await opened.again().kv.get("new") == b"y"  # another replica sees it


async def test_kv_entries_expire(opened: Opened) -> None:
    kv = opened.store.kv
    await kv.set("short", b"v", ttl=0.2)
    await kv.set("long", b"v", ttl=60)
    assert await kv.get("short") == b"v"
    assert await eventually(lambda: _absent(kv, "short"), within=3.0)
    assert await kv.get("long") == b"v"
    assert await kv.set_if_absent("short", b"again", ttl=60)  # an expired key counts as absent
    assert await kv.get("short") == b"again"


async def _absent(kv: Any, key: str) -> bool:
    return await kv.get(key) is None


# -- pub/sub --------------------------------------------------------------------------------------

async def test_pubsub_delivers_to_every_subscriber_in_order(opened: Opened) -> None:
    # Redis and PostgreSQL carry messages between replicas; memory and SQLite within this process.
    replica = opened.again() if opened.again and opened.name != "sqlite" else opened.store
    async with opened.store.pubsub.subscribe("invalidate") as one, \
            replica.pubsub.subscribe("invalidate") as two, \
            opened.store.pubsub.subscribe("elsewhere") as other:
        for n in range(5):
            await replica.pubsub.publish("invalidate", f"m{n}".encode())
        await replica.pubsub.publish("elsewhere", b"x")
        for sub in (one, two):
            got = [await asyncio.wait_for(anext(sub), 5) for _ in range(5)]
            assert got == [b"m0", b"m1", b"m2", b"m3", b"m4"]
        assert await asyncio.wait_for(anext(other), 5) == b"x"
        assert one.dropped == 0


# -- records --------------------------------------------------------------------------------------

async def test_records_read_back_in_order_with_a_cursor(opened: Opened) -> None:
    records = opened.store.records
    ids = []
    for n in range(5):
        ids.append(await records.append("audit", f"a{n}".encode()))
        await records.append("spend", f"s{n}".encode())
    assert ids == sorted(ids) and len(set(ids)) == 5
    everything = await records.read("audit")
    assert [r.data for r in everything] == [b"a0", b"a1", b"a2", b"a3", b"a4"]
    assert [r.id for r in everything] == ids
    page = await records.read("audit", limit=2)
    assert [r.data for r in page] == [b"a0", b"a1"]
    page = await records.read("audit", after=page[-1].id, limit=2)
    assert [r.data for r in page] == [b"a2", b"a3"]
    page = await records.read("audit", after=page[-1].id, limit=2)
    assert [r.data for r in page] == [b"a4"]
    assert await records.read("audit", after=page[-1].id) == []
    assert await records.read("missing") == []


# -- work queue -----------------------------------------------------------------------------------

async def test_queue_claims_oldest_first_and_ack_removes(opened: Opened) -> None:
    queue = opened.store.queue
    for n in range(3):
        await queue.enqueue("batch", f"j{n}".encode())
    assert await queue.pending("batch") == 3
    first = await queue.claim("batch", lease=30)
    second = await queue.claim("batch", lease=30)
    assert first is not None and second is not None
    assert (first.payload, second.payload, first.attempts) == (b"j0", b"j1", 1)
    assert await queue.ack(first)
    assert not await queue.ack(first)
    assert await queue.nack(second)  # visible again from now: behind j2, which waited longer
    last = await queue.claim("batch", lease=30)
    assert last is not None and last.payload == b"j2"
    again = await queue.claim("batch", lease=30)
    assert again is not None and again.payload == b"j1" and again.attempts == 2
    assert not await queue.ack(second)  # the old lease no longer holds it
    assert await queue.claim("batch", lease=30) is None
    assert await queue.pending("batch") == 2


async def test_an_expired_lease_redelivers(opened: Opened) -> None:
    queue = opened.store.queue
    await queue.enqueue("work", b"job")
    first = await queue.claim("work", lease=0.2)
    assert first is not None
    assert await queue.claim("work", lease=0.2) is None  # leased: hidden
    worker = opened.again().queue if opened.again else queue  # another replica picks it up
    redelivered: Job | None = await eventually(lambda: worker.claim("work", lease=30), within=3.0)
    assert redelivered is not None and redelivered.payload == b"job" and redelivered.attempts == 2
    assert not await queue.ack(first)  # too late: the job is someone else's now
    assert await worker.ack(redelivered)
    assert await queue.pending("work") == 0


async def test_concurrent_claims_take_each_job_once(opened: Opened) -> None:
    queue = opened.store.queue
    for n in range(20):
        await queue.enqueue("fan", str(n).encode())
    stores = [opened.store, opened.again()] if opened.again else [opened.store]
    claims = await asyncio.gather(*(stores[i % len(stores)].queue.claim("fan", lease=30) for i in range(40)))
    payloads = [c.payload for c in claims if c is not None]
    assert sorted(payloads, key=int) == [str(n).encode() for n in range(20)]


async def test_delayed_jobs_wait(opened: Opened) -> None:
    queue = opened.store.queue
    await queue.enqueue("later", b"x", delay=30)
    assert await queue.claim("later", lease=1) is None
    assert await queue.pending("later") == 1


async def test_sql_sweeps_counter_slots_that_left_their_window(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    await upgrade(url)
    store = open_store(url, sweep_every=20)
    try:
        assert isinstance(await store.counters.reserve("gone", 1, 10, 0.05), Reservation)
        await asyncio.sleep(0.1)  # its slot has left the 50 ms window; the key is never asked about again
        for n in range(20):
            await store.counters.reserve(f"busy{n % 3}", 0, 10, 60)
    finally:
        await store.aclose()
    with sqlite3.connect(tmp_path / "sweep.db") as db:
        keys = {row[0] for row in db.execute("SELECT key FROM sy_counters")}
    assert "switchyard:gone" not in keys and keys
