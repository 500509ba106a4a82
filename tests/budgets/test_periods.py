"""Budget periods: calendar periods in a time zone (DST included), rolling windows, an injectable clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from switchyard.budgets.periods import Periods, calendar_span
from switchyard.core.config import Budget

PARIS = ZoneInfo("Europe/Paris")


def _at(text: str, zone: ZoneInfo = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_a_day_is_local_midnight_to_midnight_and_23_hours_across_spring_forward():
    span = calendar_span("daily", PARIS, _at("2026-03-29T12:00"))
    assert span.label == "2026-03-29"
    assert span.start == _at("2026-03-29T00:00") and span.end == _at("2026-03-30T00:00")
    assert span.window == 23 * 3600
    assert calendar_span("daily", PARIS, _at("2026-10-25T12:00")).window == 25 * 3600


def test_a_week_starts_on_monday_and_is_named_by_iso_week():
    span = calendar_span("weekly", PARIS, _at("2026-11-26T23:59"))  # a Thursday
    assert span.label == "2026-W48"
    assert span.start == _at("2026-11-23T00:00") and span.end == _at("2026-11-30T00:00")
    assert calendar_span("weekly", PARIS, _at("2027-01-01T10:00")).label == "2026-W53"


def test_a_month_runs_to_the_first_of_the_next_including_december():
    span = calendar_span("monthly", PARIS, _at("2026-12-31T23:30"))
    assert span.label == "2026-12"
    assert span.end == _at("2027-01-01T00:00")
    assert calendar_span("monthly", PARIS, _at("2027-02-10T00:00")).window == 28 * 86400


def test_the_same_instant_is_in_different_days_in_different_zones():
    instant = _at("2026-11-26T23:30", ZoneInfo("UTC"))
    assert calendar_span("daily", ZoneInfo("UTC"), instant).label == "2026-11-26"
    assert calendar_span("daily", ZoneInfo("Asia/Tokyo"), instant).label == "2026-11-27"


def test_the_current_span_follows_an_injected_clock_across_a_reset():
    now = [_at("2026-11-30T23:59:59")]
    periods = Periods(lambda: now[0])
    monthly = Budget(amount=10, period="monthly", timezone="Europe/Paris")
    assert periods.current(monthly).label == "2026-11"
    now[0] += 1.0
    assert periods.current(monthly).label == "2026-12"
    now[0] -= 86400.0  # a clock may step back: the span is recomputed, never stale
    assert periods.current(monthly).label == "2026-11"


def test_a_rolling_budget_is_one_window_named_by_its_length():
    span = Periods().current(Budget(amount=5, period="rolling", window="12h"))
    assert span.label == "rolling-43200" and span.window == 43200 and span.end is None and span.resets_at() is None


@pytest.mark.parametrize(("terms", "reason"), [
    ({"amount": 0}, "greater than 0"),
    ({"amount": 1, "period": "rolling"}, "needs window"),
    ({"amount": 1, "window": "1d"}, "window is for rolling"),
    ({"amount": 1, "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"amount": 1, "soft": [0.5, 1.2]}, "fractions of amount"),
    ({"amount": 1, "webhook": "ftp://x"}, r"http\(s\) URL"),
    ({"amount": 1, "period": "rolling", "window": "soon"}, "duration"),
])
def test_bad_terms_are_refused_naming_the_reason(terms, reason):
    with pytest.raises(ValueError, match=reason):
        Budget(**terms)
