"""``sqlite:///path`` and ``postgresql://…``: durable stores over SQLAlchemy Core (async).

Drivers: aiosqlite for SQLite, asyncpg for PostgreSQL (the URL's scheme is
rewritten to ``sqlite+aiosqlite`` / ``postgresql+asyncpg``). The tables
(``sql_schema.py``) are created by Alembic migrations: run
``switchyard db upgrade --url URL`` before first use.

Options (URL query or ``open_store`` keywords): ``schema`` (PostgreSQL: the
schema to live in, set as the connections' ``search_path``), ``slots`` (counter
slots per window, default 1000), ``sweep_every`` (writes between sweeps of
expired kv rows and counter slots, default 1000).

How each ability stays atomic:

* counters — one transaction per reserve: PostgreSQL takes a transaction-level
  advisory lock on the key; SQLite's first statement is a write (expiring old
  slots), which takes the database's write lock before anything is read;
  the arithmetic is the sliding window of ``limits/sliding.py`` (slot rows);
* kv and queue — single statements (``INSERT … ON CONFLICT … WHERE``,
  ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``);
* pub/sub — PostgreSQL: LISTEN/NOTIFY (a connection per subscription, the
  message base64 in the payload, so at most ~5.9 KB per message); SQLite: in
  this process only (``fanout.py``), as a SQLite file is one machine's.

Times are this process's wall clock (``time.time``): replicas sharing a
PostgreSQL should keep their clocks in sync (NTP), as leases and windows use them.
Keys, streams and queue names are stored with the store's prefix.
"""

from __future__ import annotations

import base64
import hashlib
import math
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from switchyard.storage import sql_schema as schema
from switchyard.storage.fanout import LocalPubSub, MailboxSubscription
from switchyard.storage.limits.sliding import SLOTS
from switchyard.storage.protocols import Job, Record, Refusal, Reservation
from switchyard.storage.url import StoreSpec

#: Options of ours, removed from the URL before it reaches the driver.
OPTIONS = ("schema", "slots", "sweep_every")
#: Expired kv rows and counter slots are deleted once every this many writes (option ``sweep_every``).
SWEEP_EVERY = 1000


def engine_for(spec: StoreSpec) -> AsyncEngine:
    """An async engine for ``spec`` (no I/O until first used)."""
    url = sa.make_url(spec.url)
    query = {k: v for k, v in url.query.items() if k not in OPTIONS}
    schema_name = str(spec.options.get("schema") or "")
    kwargs: dict[str, Any] = {}
    if spec.scheme == "sqlite":
        if not url.database or url.database == ":memory:":
            raise spec.error("sqlite needs a file: sqlite:///relative/path or sqlite:////absolute/path "
                             "(use memory:// for an in-process store)")
        url = url.set(drivername="sqlite+aiosqlite", query=query)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        url = url.set(drivername="postgresql+asyncpg", query=query)
        if schema_name:
            if not schema_name.replace("_", "").isalnum():
                raise spec.error("option 'schema' must be letters, digits and underscores")
            kwargs["connect_args"] = {"server_settings": {"search_path": schema_name}}
    engine = create_async_engine(url, **kwargs)
    if spec.scheme == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers never block the writer (several processes may share the file).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _Base:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.engine = store.engine
        self.prefix = store.prefix
        self.postgres = store.postgres

    def insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self.postgres else sqlite_dialect.insert)(table)


class SqlCounters(_Base):
    """The sliding window in slot rows, one transaction per decision."""

    def __init__(self, store: SqlStore, slots: int) -> None:
        super().__init__(store)
        self.slots = slots
        self._writes = 0

    async def _lock(self, conn: AsyncConnection, key: str, cutoff: int) -> None:
        t = schema.counters
        if self.postgres:
            lock = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        # Both: expire first. On SQLite this write takes the database lock before the read below.
        await conn.execute(sa.delete(t).where(t.c.key == key, t.c.slot <= cutoff))

    def _clock(self, window: float) -> tuple[float, float, int]:
        """``(now, slot width, cutoff)``: slots at or below the cutoff have left the window."""
        now = time.time()
        width = window / self.slots
        return now, width, math.floor(now / width - self.slots)

    async def _add(self, conn: AsyncConnection, key: str, slot: int, amount: float, width: float) -> None:
        t = schema.counters
        stmt = self.insert(t).values(key=key, slot=slot, amount=amount, expires_at=(slot + self.slots) * width)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=[t.c.key, t.c.slot], set_={"amount": t.c.amount + stmt.excluded.amount}))
        self._writes += 1
        if self._writes % self.store.sweep_every == 0:  # slots of keys nobody asks about any more
            await conn.execute(sa.delete(t).where(t.c.expires_at <= time.time()))

    async def reserve(self, key: str, amount: float, limit: float, window: float) -> Reservation | Refusal:
        if amount < 0 or not limit > 0 or not window > 0:
            raise ValueError("amount must not be negative; limit and window must be positive")
        full = self.prefix + key
        t = schema.counters
        async with self.engine.begin() as conn:
            now, width, cutoff = self._clock(window)
            await self._lock(conn, full, cutoff)
            rows = (await conn.execute(sa.select(t.c.slot, t.c.amount).where(t.c.key == full)
                                       .order_by(t.c.slot))).all()
            total = sum(row.amount for row in rows)
            if amount > limit:
                return Refusal(key, amount, math.inf, max(0.0, limit - total))
            if total + amount <= limit + 1e-9:
                await self._add(conn, full, math.ceil(now / width), amount, width)
                return Reservation(key, amount, limit, window, now, max(0.0, limit - total - amount))
        need, freed, wait = total + amount - limit, 0.0, window
        for row in rows:
            freed += row.amount
            if freed >= need - 1e-9:
                wait = (row.slot + self.slots) * width - now
                break
        return Refusal(key, amount, max(wait, 1e-6), max(0.0, limit - total))

    async def settle(self, reservation: Reservation, actual: float) -> None:
        delta = actual - reservation.amount
        if not delta:
            return
        full = self.prefix + reservation.key
        t = schema.counters
        async with self.engine.begin() as conn:
            now, width, cutoff = self._clock(reservation.window)
            await self._lock(conn, full, cutoff)
            slot = math.ceil(reservation.ref / width)
            if slot > cutoff:
                updated = await conn.execute(
                    sa.update(t).where(t.c.key == full, t.c.slot == slot)
                    .values(amount=sa.case((t.c.amount + delta < 0, 0.0), else_=t.c.amount + delta)))
                if updated.rowcount:
                    return
            if delta > 0:  # its slot left the window: the extra counts now
                await self._add(conn, full, math.ceil(now / width), delta, width)

    async def refund(self, reservation: Reservation) -> None:
        await self.settle(reservation, 0.0)


class SqlKV(_Base):
    def __init__(self, store: SqlStore) -> None:
        super().__init__(store)
        self._writes = 0

    @staticmethod
    def _expiry(ttl: float | None) -> float | None:
        return None if ttl is None else time.time() + ttl

    @staticmethod
    def _live(now: float) -> Any:
        t = schema.kv
        return sa.or_(t.c.expires_at.is_(None), t.c.expires_at > now)

    async def _wrote(self, conn: AsyncConnection) -> None:
        self._writes += 1
        if self._writes % self.store.sweep_every == 0:
            await conn.execute(sa.delete(schema.kv).where(schema.kv.c.expires_at <= time.time()))

    async def get(self, key: str) -> bytes | None:
        t = schema.kv
        async with self.engine.connect() as conn:
            value = (await conn.execute(sa.select(t.c.value).where(t.c.key == self.prefix + key,
                                                                   self._live(time.time())))).scalar()
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        t = schema.kv
        stmt = self.insert(t).values(key=self.prefix + key, value=value, expires_at=self._expiry(ttl))
        async with self.engine.begin() as conn:
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=[t.c.key], set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at}))
            await self._wrote(conn)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        t = schema.kv
        now = time.time()
        stmt = self.insert(t).values(key=self.prefix + key, value=value, expires_at=self._expiry(ttl))
        stmt = stmt.on_conflict_do_update(  # an expired row counts as absent
            index_elements=[t.c.key], set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at},
            where=t.c.expires_at <= now).returning(t.c.key)
        async with self.engine.begin() as conn:
            written = (await conn.execute(stmt)).first() is not None
            await self._wrote(conn)
        return written

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None) -> bool:
        if expected is None:
            return await self.set_if_absent(key, value, ttl)
        t = schema.kv
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(t).where(t.c.key == self.prefix + key, t.c.value == expected, self._live(time.time()))
                .values(value=value, expires_at=self._expiry(ttl)))
        return bool(result.rowcount)

    async def delete(self, key: str) -> bool:
        t = schema.kv
        async with self.engine.begin() as conn:
            live = (await conn.execute(sa.delete(t).where(t.c.key == self.prefix + key)
                                       .returning(t.c.expires_at))).first()
        return live is not None and (live.expires_at is None or live.expires_at > time.time())


class SqlRecords(_Base):
    async def append(self, stream: str, data: bytes) -> int:
        t = schema.records
        async with self.engine.begin() as conn:
            row_id = (await conn.execute(sa.insert(t).values(stream=self.prefix + stream, data=data,
                                                             created_at=time.time()).returning(t.c.id))).scalar_one()
        return int(row_id)

    async def read(self, stream: str, after: int = 0, limit: int = 100) -> list[Record]:
        t = schema.records
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.c.id, t.c.data).where(t.c.stream == self.prefix + stream,
                                                                         t.c.id > after)
                                       .order_by(t.c.id).limit(limit))).all()
        return [Record(int(row.id), bytes(row.data)) for row in rows]


class SqlQueue(_Base):
    async def enqueue(self, queue: str, payload: bytes, *, delay: float = 0.0) -> str:
        t = schema.jobs
        now = time.time()
        async with self.engine.begin() as conn:
            row_id = (await conn.execute(sa.insert(t).values(
                queue=self.prefix + queue, payload=payload, attempts=0, visible_at=now + max(0.0, delay),
                lease=None, created_at=now).returning(t.c.id))).scalar_one()
        return f"{queue}/{row_id}"

    async def claim(self, queue: str, lease: float) -> Job | None:
        t = schema.jobs
        now, token = time.time(), uuid.uuid4().hex
        oldest = (sa.select(t.c.id).where(t.c.queue == self.prefix + queue, t.c.visible_at <= now)
                  .order_by(t.c.visible_at, t.c.id).limit(1).with_for_update(skip_locked=True).scalar_subquery())
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                sa.update(t).where(t.c.id == oldest)
                .values(attempts=t.c.attempts + 1, visible_at=now + lease, lease=token)
                .returning(t.c.id, t.c.payload, t.c.attempts))).first()
        if row is None:
            return None
        return Job(f"{queue}/{row.id}", bytes(row.payload), int(row.attempts), token)

    def _held(self, job: Job) -> Any:
        t = schema.jobs
        queue, _, row_id = job.id.rpartition("/")
        return sa.and_(t.c.id == int(row_id), t.c.queue == self.prefix + queue, t.c.lease == job.lease,
                       t.c.visible_at > time.time())

    async def ack(self, job: Job) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(sa.delete(schema.jobs).where(self._held(job)))
        return bool(result.rowcount)

    async def nack(self, job: Job, delay: float = 0.0) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(sa.update(schema.jobs).where(self._held(job))
                                        .values(visible_at=time.time() + max(0.0, delay), lease=None))
        return bool(result.rowcount)

    async def pending(self, queue: str) -> int:
        t = schema.jobs
        async with self.engine.connect() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(t)
                                        .where(t.c.queue == self.prefix + queue))).scalar_one()
        return int(count)


class NotifySubscription(MailboxSubscription):
    """LISTEN on a connection held for the subscription's lifetime."""

    def __init__(self, hub: NotifyPubSub, channel: str, buffer: int) -> None:
        super().__init__(channel, buffer)
        self.hub = hub
        self.pg_channel = hub.pg_channel(channel)
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.mailbox.put(base64.b64decode(payload))

    def _lost(self, _conn: Any) -> None:
        self.mailbox.close()  # the iteration ends; the subscriber subscribes again

    async def _open(self) -> None:
        self._conn = await self.hub.engine.connect()
        raw = await self._conn.get_raw_connection()
        self._driver = raw.driver_connection
        await self._driver.add_listener(self.pg_channel, self._notified)  # LISTEN has run on return
        self._driver.add_termination_listener(self._lost)
        self.hub.subscriptions.add(self)

    async def _close(self) -> None:
        self.hub.subscriptions.discard(self)
        if self._driver is not None:
            try:
                await self._driver.remove_listener(self.pg_channel, self._notified)
            except Exception:  # the connection is gone; closing it below is all that is left
                pass
            self._driver = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class NotifyPubSub:
    """PostgreSQL LISTEN/NOTIFY."""

    def __init__(self, engine: AsyncEngine, prefix: str) -> None:
        self.engine = engine
        self.prefix = prefix
        self.subscriptions: set[NotifySubscription] = set()

    def pg_channel(self, channel: str) -> str:
        # Channel names are identifiers (at most 63 bytes): a stable digest of prefix + name.
        return "sy_" + hashlib.blake2b((self.prefix + channel).encode(), digest_size=16).hexdigest()

    async def publish(self, channel: str, message: bytes) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.select(sa.func.pg_notify(self.pg_channel(channel),
                                                           base64.b64encode(message).decode())))

    def subscribe(self, channel: str, *, buffer: int = 1024) -> NotifySubscription:
        return NotifySubscription(self, channel, buffer)

    async def close(self) -> None:
        for subscription in list(self.subscriptions):
            await subscription.__aexit__(None, None, None)


class SqlStore:
    """A SQLite file or a PostgreSQL database (tables from ``switchyard db upgrade``)."""

    def __init__(self, spec: StoreSpec) -> None:
        self.url = spec.masked
        self.prefix = spec.prefix
        self.spec = spec
        self.postgres = spec.scheme in ("postgresql", "postgres")
        self.schema = str(spec.options.get("schema") or "") or None
        try:
            self.engine = engine_for(spec)
        except sa.exc.ArgumentError:
            raise spec.error("not a usable database URL") from None
        try:
            slots = int(spec.options.get("slots", SLOTS))
            self.sweep_every = max(1, int(spec.options.get("sweep_every", SWEEP_EVERY)))
        except (TypeError, ValueError):
            raise spec.error("options 'slots' and 'sweep_every' must be integers") from None
        self.counters = SqlCounters(self, slots)
        self.kv = SqlKV(self)
        self.records = SqlRecords(self)
        self.queue = SqlQueue(self)
        self.pubsub: NotifyPubSub | LocalPubSub = (NotifyPubSub(self.engine, self.prefix) if self.postgres
                                                   else LocalPubSub())

    async def aclose(self) -> None:
        if isinstance(self.pubsub, NotifyPubSub):
            await self.pubsub.close()
        else:
            self.pubsub.close()
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"
