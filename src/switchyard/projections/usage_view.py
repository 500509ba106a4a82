"""Usage and spend over time, the read model of ``GET /admin/spend`` (``sy_usage_view``).

Kept from the spend records (``sy_spend``: one per request, appended, never updated — the
usage events): each minute, per combination of key, user, team, tenant, alias, model,
deployment and provider, the sums a report shows. A report groups those rows by one dimension
over whole minutes: ``from`` is taken back and ``to`` forward to a minute's edge. Reading it
never touches ``sy_spend``, however many requests it holds.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import reduce
from operator import add, and_, attrgetter, not_
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchyard.spend.record import GROUPS
from switchyard.spend.report import Rollup, SpendQuery, ordered
from switchyard.storage import sql_schema as schema

#: The width of a bucket, in seconds.
BUCKET = 60
DIMENSIONS = ("key", "key_id", "user", "team", "team_id", "tenant", "alias", "model", "deployment", "provider")
SUMS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
        "reasoning_tokens", "unpriced", "estimated", "cost_usd")


def bucket_of(at: float) -> int:
    return int(at // BUCKET) * BUCKET


def window(since: float | None, until: float | None) -> tuple[int | None, int | None]:
    """``[from, to)`` widened to whole buckets."""
    low = None if since is None else bucket_of(since)
    high = None if until is None else math.ceil(until / BUCKET) * BUCKET
    return low, high


def dims_key(values: Sequence[Any]) -> str:
    text = "\x1f".join("\x00" if v is None else str(v) for v in values)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


_DIMS = attrgetter(*DIMENSIONS)
_READ = attrgetter("status", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
                   "reasoning_tokens", "priced", "estimated", "cost_usd")
_ERROR = (400).__le__  # status >= 400
_ANSWERED = (400).__gt__  # status < 400


def fold(records: Sequence[Any]) -> dict[tuple[int, str], dict[str, Any]]:
    """Records summed per (bucket, dimensions): a row of ``SUMS`` (an error is not counted as
    unpriced; a detail not reported adds 0), the bucket, the dimensions and their digest.

    Written for batches of many records of few callers: a record costs one pass of Python (its
    group is found and it joins it); each group's columns are then summed by builtins, in C,
    in the records' order, and its dimensions hashed into its key once per batch."""
    groups: dict[tuple[int, tuple[Any, ...]], list[Any]] = {}
    for record in records:
        key = (int(record.at // BUCKET) * BUCKET, _DIMS(record))
        group = groups.get(key)
        if group is None:
            groups[key] = [record]
        else:
            group.append(record)
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for (bucket, values), group in groups.items():
        status, prompt, completion, cached, written, reasoning, priced, estimated, cost = zip(*map(_READ, group))
        digest = dims_key(values)
        out[(bucket, digest)] = {
            "requests": len(group), "errors": sum(map(_ERROR, status)), "prompt_tokens": sum(prompt),
            "completion_tokens": sum(completion), "cached_tokens": sum(filter(None, cached)),
            "cache_write_tokens": sum(filter(None, written)), "reasoning_tokens": sum(filter(None, reasoning)),
            "unpriced": sum(map(and_, map(not_, priced), map(_ANSWERED, status))),
            "estimated": sum(map(bool, estimated)), "cost_usd": reduce(add, map(float, cost), 0.0),
            "bucket": bucket, "dims": digest, **dict(zip(DIMENSIONS, values))}
    return out


def _sums() -> list[Any]:
    c = schema.usage_view.c
    return [sa.func.sum(c[name]).label(name) for name in SUMS]


def _rollup(group: Any, row: Any) -> Rollup:
    return Rollup(group, int(row.requests or 0), int(row.errors or 0), int(row.prompt_tokens or 0),
                  int(row.completion_tokens or 0), int(row.cached_tokens or 0), int(row.cache_write_tokens or 0),
                  int(row.reasoning_tokens or 0), float(row.cost_usd or 0.0), int(row.unpriced or 0),
                  int(row.estimated or 0))


def _inline(number: int) -> Any:
    """A constant written into the SQL: a GROUP BY expression must read as its SELECT does (PostgreSQL)."""
    return sa.literal_column(str(int(number)), sa.BigInteger)


class UsageView:
    """The projection (``apply``) and its report."""

    name = "usage"
    source = schema.spend
    columns = ("id", "at", *DIMENSIONS, "status", "prompt_tokens", "completion_tokens", "cached_tokens",
               "cache_write_tokens", "reasoning_tokens", "cost_usd", "priced", "estimated")

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    async def apply(self, conn: AsyncConnection, rows: Sequence[Any]) -> None:
        t = schema.usage_view
        folded = list(fold(rows).values())
        if not folded:
            return
        stmt = (pg_dialect.insert if self.postgres else sqlite_dialect.insert)(t)
        stmt = stmt.on_conflict_do_update(index_elements=[t.c.bucket, t.c.dims],
                                          set_={name: t.c[name] + stmt.excluded[name] for name in SUMS})
        await conn.execute(stmt, folded)

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(sa.delete(schema.usage_view))

    async def report(self, query: SpendQuery) -> tuple[list[Rollup], Rollup]:
        t = schema.usage_view
        every = query.interval
        column = t.c[GROUPS[query.group_by]] if every is None else (t.c.bucket // _inline(every)) * _inline(every)
        low, high = window(query.since, query.until)
        where = [t.c[name] == value for name, value in query.only]
        if low is not None:
            where.append(t.c.bucket >= low)
        if high is not None:
            where.append(t.c.bucket < high)
        grouped = sa.select(column.label("grp"), *_sums()).where(*where).group_by(column)
        if every is None:
            grouped = grouped.order_by(sa.func.sum(t.c.cost_usd).desc(), sa.func.sum(t.c.requests).desc())
        else:
            grouped = grouped.order_by(column.desc())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(grouped.limit(query.limit))).all()
            whole = (await conn.execute(sa.select(*_sums()).where(*where))).one()
        found = [_rollup(int(row.grp) if every is not None else row.grp, row) for row in rows]
        return ordered(found, query.limit, every is not None), _rollup(None, whole)
