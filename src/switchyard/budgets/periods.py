"""Budget periods: which counter a budget counts in now, and when that resets.

A calendar period — ``daily``, ``weekly`` (from Monday) or ``monthly``, in the
budget's time zone — is one counter per period: its key names the period
(``2026-11-26``, ``2026-W48``, ``2026-11``) and its window is the period's
length in seconds (a day is 23 or 25 hours across a daylight-saving change).
Nothing leaves a window before its period ends, and the next period starts
from zero on a fresh key, so the reset needs no job and no clock agreement
beyond the date. A ``rolling`` budget is one counter whose window is the
budget's own: spend leaves it as it ages (at most one slot — 1/1000 of the
window — late, never early).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from switchyard.core.config.budgets import Budget


@dataclass(frozen=True, slots=True)
class Span:
    """The period a budget counts in now: ``label`` names its counter, ``window`` is
    its length in seconds; ``start``/``end`` (epoch seconds) are None when rolling."""

    label: str
    window: float
    start: float | None = None
    end: float | None = None

    def resets_at(self) -> str | None:
        """When the period ends, ISO 8601 in UTC (None: a rolling window never resets at once)."""
        return None if self.end is None else datetime.fromtimestamp(self.end, UTC).isoformat()



def calendar_span(period: str, zone: ZoneInfo, now: float) -> Span:
    """The ``daily``/``weekly``/``monthly`` period of ``zone`` holding the instant ``now``."""
    day = datetime.fromtimestamp(now, zone).date()
    if period == "daily":
        first, after, label = day, day + timedelta(days=1), day.isoformat()
    elif period == "weekly":
        first = day - timedelta(days=day.weekday())
        year, week, _ = first.isocalendar()
        after, label = first + timedelta(days=7), f"{year}-W{week:02d}"
    elif period == "monthly":
        first = day.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        label = f"{first.year}-{first.month:02d}"
    else:
        raise ValueError(f"not a calendar period: {period!r}")
    start = datetime.combine(first, clock_time(), zone).timestamp()
    end = datetime.combine(after, clock_time(), zone).timestamp()
    return Span(label, end - start, start, end)


class Periods:
    """The current ``Span`` of each budget, by an injectable wall clock. Calendar spans
    are kept until they end: one per (period, time zone), bounded by the zone database."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._spans: dict[tuple[str, str], Span] = {}
        self._zones: dict[str, ZoneInfo] = {}

    def current(self, budget: Budget) -> Span:
        if budget.period == "rolling":
            window = budget.window or 0.0
            return Span(f"rolling-{window:g}", window)
        now = self.clock()
        key = (budget.period, budget.timezone)
        span = self._spans.get(key)
        if span is None or not (span.start <= now < span.end):  # type: ignore[operator]
            zone = self._zones.get(budget.timezone)
            if zone is None:
                zone = self._zones[budget.timezone] = ZoneInfo(budget.timezone)
            span = self._spans[key] = calendar_span(budget.period, zone, now)
        return span
