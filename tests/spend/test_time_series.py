"""Spend as a time series: ``group_by`` minute, hour or day — one row per interval, oldest first
(the newest ``limit``), the same from the records and from the usage read model, in memory,
SQLite and PostgreSQL (the dashboard's overview charts read it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchyard.projections.memory import MemoryUsageView
from switchyard.projections.usage_view import UsageView
from switchyard.server.admin_queries import SpendParams, parse_query
from switchyard.spend import MemorySpendStore, SpendQuery
from tests.spend.test_spend_log import _record, _sql_store, store_url  # noqa: F401  (a fixture)

HOUR = 3600
RECORDS = [
    _record(10 * HOUR + 5, cost_usd=1.0),
    _record(10 * HOUR + 1800, cost_usd=2.0, status=502, error="upstream_error"),
    _record(12 * HOUR + 59, cost_usd=4.0),
    _record(13 * HOUR, cost_usd=8.0),
]


def _series(rows: list[Any]) -> list[tuple[Any, int, int, float]]:
    return [(r.group, r.requests, r.errors, r.cost_usd) for r in rows]


def test_hours_from_the_records_and_from_the_read_model(store_url):  # noqa: F811
    async def run() -> dict[str, Any]:
        queries = {"hour": SpendQuery("hour"), "newest": SpendQuery("hour", limit=2),
                   "day": SpendQuery("day"), "minute": SpendQuery("minute", since=12 * HOUR)}
        if store_url == "memory://":
            store: Any = MemorySpendStore()
            await store.append(RECORDS)
            view: Any = MemoryUsageView()
            view.apply(RECORDS)
            return {"records": {n: await store.report(q) for n, q in queries.items()},
                    "view": {n: await view.report(q) for n, q in queries.items()}}
        durable, store = await _sql_store(store_url)
        try:
            await store.append(RECORDS)
            view = UsageView(durable.engine)
            async with durable.engine.begin() as conn:
                await view.apply(conn, RECORDS)
            return {"records": {n: await store.report(q) for n, q in queries.items()},
                    "view": {n: await view.report(q) for n, q in queries.items()}}
        finally:
            await durable.aclose()

    out = asyncio.run(run())
    for source in ("records", "view"):
        got = out[source]
        rows, total = got["hour"]
        assert _series(rows) == [(10 * HOUR, 2, 1, 3.0), (12 * HOUR, 1, 0, 4.0), (13 * HOUR, 1, 0, 8.0)], source
        assert total.requests == 4 and total.cost_usd == 15.0
        assert [r.group for r in got["newest"][0]] == [12 * HOUR, 13 * HOUR], source  # the newest two, oldest first
        assert _series(got["day"][0]) == [(0, 4, 1, 15.0)], source
        assert [(r.group, r.requests) for r in got["minute"][0]] == [(12 * HOUR, 1), (13 * HOUR, 1)], source


def test_the_admin_query_takes_the_intervals_and_names_a_wrong_one():
    assert parse_query(SpendParams, b"group_by=hour").group_by == "hour"
    with pytest.raises(Exception, match="group_by"):
        parse_query(SpendParams, b"group_by=fortnight")
    with pytest.raises(ValueError, match="minute, hour, day"):
        SpendQuery("week")
