"""The projector: read models kept up to date from append-only logs, asynchronously.

A ``Projection`` follows one log (``sy_events`` for batches, ``sy_spend`` for usage and spend)
by id. ``Projector.step`` applies the next page of a log to a projection in one transaction
with its position (``sy_projections``): a page is applied exactly once, and a crash between
two pages loses nothing. The position row is locked for the transaction (PostgreSQL: ``FOR
UPDATE``; SQLite: a write first), so gateway processes sharing a database can all run a
projector: they take turns. The logs are appended in commit order (``storage/ordered.py``), so
following ``id > position`` skips nothing.

Each process runs its projector in the background: every ``projections.interval``, and at once
when woken (``wake``: a batch command of this process). A read that must see what this process
just wrote (a batch right after its creation, spend right after a request) calls ``sync`` first,
bounded by ``projections.wait``. ``lag()`` is how far each projection is behind its log (seconds
since the oldest event not yet applied, and how many), for ``/metrics``; ``rebuild`` empties
every projection and replays its whole log: the same rows as before (``switchyard projections
rebuild``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchyard.storage import sql_schema as schema

log = logging.getLogger("switchyard.projections")


class Projection(Protocol):
    #: Its name (its row in ``sy_projections``).
    name: str
    #: The log it follows: a table with an increasing ``id`` and an ``at`` (epoch seconds).
    source: sa.Table
    #: The columns of the log it reads (``id`` and ``at`` among them).
    columns: tuple[str, ...]

    async def apply(self, conn: AsyncConnection, rows: Sequence[Any]) -> None:
        """Apply ``rows`` of the log (in id order) inside ``conn``'s transaction."""
        ...

    async def reset(self, conn: AsyncConnection) -> None:
        """Remove every row of the read model (before a rebuild)."""
        ...


class Projector:
    """Runs ``projections`` over ``engine`` (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, projections: Sequence[Projection], *, interval: float = 0.5,
                 page: int = 2000, wait: float = 2.0) -> None:
        self.engine = engine
        self.projections = tuple(projections)
        self.interval = interval
        self.page = page
        self.wait = wait
        self.postgres = engine.dialect.name == "postgresql"
        self._wake = asyncio.Event()
        self._turn = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        now = time.time()
        #: Per projection, from its last step: when the oldest event not yet applied was appended
        #: (None: none left), how many were left, and when that step was.
        self._seen: dict[str, tuple[float | None, int, float]] = {p.name: (None, 0, now) for p in self.projections}

    # -- running -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="projector")

    def wake(self) -> None:
        """Something was appended in this process: apply it now rather than at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again at the next interval
                log.warning("projection_failed", extra={"error": type(exc).__name__})
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

    async def catch_up(self) -> int:
        """Apply every page there is now, projection by projection; returns the events applied."""
        applied = 0
        async with self._turn:
            for projection in self.projections:
                while True:
                    count = await self.step(projection)
                    applied += count
                    if count < self.page:
                        break
        return applied

    async def sync(self, timeout: float | None = None) -> None:
        """Catch up now (a read about to show what this process wrote), for at most ``timeout``
        seconds (``projections.wait``); past it the read shows what is applied."""
        try:
            await asyncio.wait_for(self.catch_up(), self.wait if timeout is None else timeout)
        except TimeoutError:
            log.warning("projection_sync_timeout", extra={"timeout": self.wait if timeout is None else timeout})

    async def step(self, projection: Projection) -> int:
        """Apply the next page of ``projection``'s log; the number of events applied."""
        source = projection.source
        async with self.engine.begin() as conn:
            position = await self._position(conn, projection.name)
            rows = (await conn.execute(sa.select(*(source.c[name] for name in projection.columns))
                                       .where(source.c.id > position).order_by(source.c.id).limit(self.page))).all()
            if rows:
                await projection.apply(conn, rows)
                position = rows[-1].id
                await conn.execute(sa.update(schema.projections).where(schema.projections.c.name == projection.name)
                                   .values(position=position, updated_at=time.time()))
            oldest = (await conn.execute(sa.select(source.c.at).where(source.c.id > position)
                                         .order_by(source.c.id).limit(1))).scalar()
            behind = 0
            if oldest is not None:
                head = (await conn.execute(sa.select(sa.func.max(source.c.id)))).scalar() or position
                behind = int(head) - int(position)
        self._seen[projection.name] = (None if oldest is None else float(oldest), behind, time.time())
        return len(rows)

    async def _position(self, conn: AsyncConnection, name: str) -> int:
        """The projection's position, its row locked for the transaction (made at 0 the first time)."""
        t = schema.projections
        if self.postgres:
            from sqlalchemy.dialects.postgresql import insert

            await conn.execute(insert(t).values(name=name, position=0, updated_at=time.time())
                               .on_conflict_do_nothing(index_elements=[t.c.name]))
            return int((await conn.execute(sa.select(t.c.position).where(t.c.name == name).with_for_update()))
                       .scalar_one())
        touched = await conn.execute(sa.update(t).where(t.c.name == name).values(updated_at=t.c.updated_at))
        if not touched.rowcount:
            await conn.execute(sa.insert(t).values(name=name, position=0, updated_at=time.time()))
            return 0
        return int((await conn.execute(sa.select(t.c.position).where(t.c.name == name))).scalar_one())

    def lag(self) -> dict[str, tuple[float, int]]:
        """Per projection: seconds since the oldest event not yet applied was appended (0: caught up),
        and how many were left at the last look. A projector that stopped looking (its database is
        away) shows a lag growing with the time since it last did."""
        now = time.time()
        out = {}
        for name, (oldest, behind, looked) in self._seen.items():
            waiting = 0.0 if oldest is None else now - oldest
            out[name] = (max(0.0, waiting, now - looked - 2 * self.interval), behind)
        return out

    async def rebuild(self) -> dict[str, int]:
        """Empty every projection and apply its whole log again; events applied per projection."""
        out: dict[str, int] = {}
        async with self._turn:
            for projection in self.projections:
                async with self.engine.begin() as conn:
                    await self._position(conn, projection.name)
                    await projection.reset(conn)
                    await conn.execute(sa.update(schema.projections).where(schema.projections.c.name == projection.name)
                                       .values(position=0, updated_at=time.time()))
                out[projection.name] = 0
                while True:
                    count = await self.step(projection)
                    out[projection.name] += count
                    if count < self.page:
                        break
        return out

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
