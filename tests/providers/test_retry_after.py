"""How long an upstream asks us to wait, from its headers."""

from __future__ import annotations

import email.utils

import pytest

from switchyard.providers.retry_after import parse_duration, parse_retry_after


@pytest.mark.parametrize(
    "text, seconds",
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2.5", 2.5), ("0", 0.0), ("  3 ", 3.0),
     ("-4", 0.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "m"])
def test_parse_duration_rejects_nonsense(text):
    assert parse_duration(text) is None


def test_retry_after_ms_wins():
    headers = {"retry-after-ms": "1500", "retry-after": "9"}
    assert parse_retry_after(headers.get) == 1.5


def test_retry_after_seconds_and_bad_ms():
    assert parse_retry_after({"retry-after-ms": "x", "retry-after": "4"}.get) == 4.0


def test_retry_after_http_date():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}.get, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after({"retry-after": email.utils.formatdate(now - 30, usegmt=True)}.get, now=now) == 0.0


def test_rate_limit_reset_headers():
    assert parse_retry_after({"x-ratelimit-reset-requests": "6m0s"}.get) == 360.0
    assert parse_retry_after({"x-ratelimit-reset-tokens": "20ms"}.get) == pytest.approx(0.02)


def test_nothing_or_garbage_is_none():
    assert parse_retry_after({}.get) is None
    assert parse_retry_after({"retry-after": "whenever"}.get) is None


def test_reset_headers_mean_wait_only_on_a_429():
    headers = {"x-ratelimit-reset-requests": "6ms", "x-ratelimit-remaining-requests": "0"}.get
    assert parse_retry_after(headers, 429) == pytest.approx(0.006)
    assert parse_retry_after(headers, 500) is None
    assert parse_retry_after({"retry-after": "2", **{"x-ratelimit-reset-requests": "6ms"}}.get, 500) == 2.0
