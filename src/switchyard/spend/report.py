"""Spend reports: records rolled up by one dimension over a time range.

``SpendQuery(group_by, since, until, limit)`` names the rollup; every store
answers it with ``Rollup`` rows — one per value of the dimension (None: records
without one, e.g. unauthenticated calls have no team), costliest first — the
same for ``GET /admin/spend`` and ``switchyard spend report``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from switchyard.spend.record import GROUP_BY, GROUPS, INTERVALS, SpendRecord


@dataclass(frozen=True, slots=True)
class SpendQuery:
    """A rollup by ``group_by`` over ``[since, until)``; ``only`` narrows it to records whose
    fields equal the given values (a key holder's ``key_id``, a team admin's ``team_id``)."""

    group_by: str
    since: float | None = None
    until: float | None = None
    limit: int = 1000
    only: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.group_by not in GROUP_BY:
            raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}, not {self.group_by!r}")
        if any(name not in ("key_id", "team_id", "user") for name, _ in self.only):
            raise ValueError("only narrows by key_id, team_id or user")

    @property
    def interval(self) -> int | None:
        """Seconds per row of a time series (``group_by`` minute, hour or day); None otherwise."""
        return INTERVALS.get(self.group_by)

    def holds(self, record: SpendRecord) -> bool:
        return ((self.since is None or record.at >= self.since)
                and (self.until is None or record.at < self.until)
                and all(getattr(record, name) == value for name, value in self.only))


@dataclass(slots=True)
class Rollup:
    """The totals of one group."""

    group: str | int | None  # a dimension's value, or an interval's start (epoch seconds)
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    estimated: int = 0

    def add(self, record: SpendRecord) -> None:
        self.requests += 1
        self.errors += record.status >= 400
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        self.cached_tokens += record.cached_tokens or 0
        self.cache_write_tokens += record.cache_write_tokens or 0
        self.reasoning_tokens += record.reasoning_tokens or 0
        self.cost_usd += record.cost_usd
        self.unpriced += not record.priced and record.status < 400
        self.estimated += record.estimated

    def public(self, group_by: str) -> dict[str, Any]:
        out = asdict(self)
        out[group_by] = out.pop("group")
        out["cost_usd"] = round(self.cost_usd, 10)
        return out


ROLLUP_FIELDS = tuple(f.name for f in fields(Rollup))


def rollup(records: Iterable[SpendRecord], query: SpendQuery) -> tuple[list[Rollup], Rollup]:
    """The rollup of ``records`` in Python (the memory store's way; SQL stores GROUP BY):
    the costliest ``query.limit`` groups, and the total of all."""
    every = query.interval
    field = GROUPS.get(query.group_by, "")
    groups: dict[Any, Rollup] = {}
    for record in records:
        if query.holds(record):
            value = int(record.at // every) * every if every else getattr(record, field)
            group = groups.get(value)
            if group is None:
                group = groups[value] = Rollup(value)
            group.add(record)
    return ordered(groups.values(), query.limit, every is not None), total(groups.values())


def ordered(rows: Iterable[Rollup], limit: int, series: bool = False) -> list[Rollup]:
    """The costliest ``limit`` groups first; a time series (``series``): its newest ``limit`` rows, oldest first."""
    if series:
        return sorted(rows, key=lambda r: r.group or 0)[-limit:]
    return sorted(rows, key=lambda r: (-r.cost_usd, -r.requests, str(r.group)))[:limit]


def total(rows: Iterable[Rollup]) -> Rollup:
    out = Rollup(None)
    for row in rows:
        for name in ROLLUP_FIELDS[1:]:
            setattr(out, name, getattr(out, name) + getattr(row, name))
    return out


def to_csv(rows: Iterable[dict[str, Any]], columns: Iterable[str]) -> str:
    """Rows as CSV with a header line (an empty cell for None)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
