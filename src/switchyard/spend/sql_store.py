"""``sy_spend`` in the durable store's SQLite file or PostgreSQL database (see ``store.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from switchyard.spend.record import COLUMNS, GROUPS, SpendRecord
from switchyard.spend.report import Rollup, SpendQuery, ordered
from switchyard.storage import sql_schema as schema
from switchyard.storage.ordered import hold_append_lock

#: The name of the spend records' append lock (``storage/ordered.py``).
SPEND_LOG = "spend"

PAGE = 1000


def _sums() -> list[Any]:
    c = schema.spend.c
    return [
        sa.func.count().label("requests"),
        sa.func.sum(sa.case((c.status >= 400, 1), else_=0)).label("errors"),
        sa.func.sum(c.prompt_tokens).label("prompt_tokens"),
        sa.func.sum(c.completion_tokens).label("completion_tokens"),
        sa.func.sum(sa.func.coalesce(c.cached_tokens, 0)).label("cached_tokens"),
        sa.func.sum(sa.func.coalesce(c.cache_write_tokens, 0)).label("cache_write_tokens"),
        sa.func.sum(sa.func.coalesce(c.reasoning_tokens, 0)).label("reasoning_tokens"),
        sa.func.sum(c.cost_usd).label("cost_usd"),
        sa.func.sum(sa.case((sa.and_(c.priced.is_(False), c.status < 400), 1), else_=0)).label("unpriced"),
        sa.func.sum(sa.case((c.estimated.is_(True), 1), else_=0)).label("estimated"),
    ]


def _inline(number: int) -> Any:
    """A constant written into the SQL: a GROUP BY expression must read as its SELECT does (PostgreSQL)."""
    return sa.literal_column(str(int(number)), sa.Float)


def _rollup(group: Any, row: Any) -> Rollup:
    return Rollup(group, int(row.requests or 0), int(row.errors or 0), int(row.prompt_tokens or 0),
                  int(row.completion_tokens or 0), int(row.cached_tokens or 0), int(row.cache_write_tokens or 0),
                  int(row.reasoning_tokens or 0), float(row.cost_usd or 0.0), int(row.unpriced or 0),
                  int(row.estimated or 0))


class SqlSpendStore:
    """``sy_spend`` in the durable store's SQLite file or PostgreSQL database. A batch is
    one ``COPY`` in PostgreSQL (the fastest way in: no statement per row to bind), one
    multi-row INSERT in SQLite."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    async def append(self, records: Sequence[SpendRecord]) -> None:
        if not records:
            return
        if self.postgres:
            async with self.engine.begin() as conn:
                # Ids in commit order: the usage projection follows this table by id (storage/ordered.py).
                await hold_append_lock(conn, SPEND_LOG)
                raw = await conn.get_raw_connection()
                # asyncpg's COPY; the table is found through the connection's search_path (?schema=).
                await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                    schema.spend.name, records=[r.values() for r in records], columns=COLUMNS)
            return
        async with self.engine.begin() as conn:
            await conn.execute(schema.spend.insert(), [r.row() for r in records])

    def _where(self, since: float | None, until: float | None, only: tuple[tuple[str, str], ...] = ()) -> list[Any]:
        c = schema.spend.c
        where = [c[name] == value for name, value in only]
        if since is not None:
            where.append(c.at >= since)
        if until is not None:
            where.append(c.at < until)
        return where

    async def report(self, query: SpendQuery) -> tuple[list[Rollup], Rollup]:
        every = query.interval
        at = schema.spend.c.at
        if every is None:
            column = schema.spend.c[GROUPS[query.group_by]]
        elif self.engine.dialect.name == "postgresql":
            column = sa.func.floor(at / _inline(every)) * _inline(every)
        else:  # SQLite: a cast truncates, and times are after 1970
            column = sa.cast(at / _inline(every), sa.BigInteger) * _inline(every)
        where = self._where(query.since, query.until, query.only)
        grouped = sa.select(column.label("grp"), *_sums()).where(*where).group_by(column)
        if every is None:
            grouped = grouped.order_by(sa.func.sum(schema.spend.c.cost_usd).desc(), sa.func.count().desc())
        else:
            grouped = grouped.order_by(column.desc())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(grouped.limit(query.limit))).all()
            whole = (await conn.execute(sa.select(*_sums()).where(*where))).one()
        found = [_rollup(int(row.grp) if every is not None else row.grp, row) for row in rows]
        return ordered(found, query.limit, every is not None), _rollup(None, whole)

    async def scan(self, since: float | None, until: float | None) -> AsyncIterator[SpendRecord]:
        t = schema.spend
        after = 0
        while True:
            select = (sa.select(t).where(t.c.id > after, *self._where(since, until)).order_by(t.c.id).limit(PAGE))
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select)).all()
            for row in rows:
                yield SpendRecord(**{name: getattr(row, name) for name in COLUMNS})
            if len(rows) < PAGE:
                return
            after = rows[-1].id

    async def aclose(self) -> None:
        return None  # the engine belongs to the durable store
