"""PriceSheet: the cost of a usage counted the OpenAI way, tiers, batch, off-peak hours, config prices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchyard.core.config import Price
from switchyard.core.messages import Usage
from switchyard.pricing.sheet import UNPRICED, PriceSheet, Rates, from_config, usd

M = 1e-6  # a dollar per million tokens, per token
SONNET = PriceSheet(Rates(input=3 * M, output=15 * M, cache_read=0.3 * M, cache_write=3.75 * M),
                    tiers=((200_000, Rates(input=6 * M, output=22.5 * M, cache_read=0.6 * M, cache_write=7.5 * M)),))


def test_cache_reads_and_writes_are_inside_the_prompt_and_priced_apart():
    # 21 fresh + 188,086 written, 393 out: Anthropic's documented prompt-caching example.
    usage = Usage(prompt_tokens=188_107, completion_tokens=393, cached_tokens=0, cache_write_tokens=188_086)
    assert SONNET.cost(usage) == pytest.approx(21 * 3 * M + 188_086 * 3.75 * M + 393 * 15 * M, rel=1e-12)
    read = Usage(prompt_tokens=188_109, completion_tokens=9, cached_tokens=188_086, cache_write_tokens=0)
    assert SONNET.cost(read) == pytest.approx(23 * 3 * M + 188_086 * 0.3 * M + 9 * 15 * M, rel=1e-12)


def test_reasoning_is_inside_completion_and_not_counted_twice():
    with_reasoning = Usage(prompt_tokens=100, completion_tokens=1000, reasoning_tokens=900)
    assert SONNET.cost(with_reasoning) == pytest.approx(100 * 3 * M + 1000 * 15 * M, rel=1e-12)


def test_unreported_details_are_plain_input_and_an_explicit_zero_is_zero():
    unreported = Usage(prompt_tokens=1000, completion_tokens=0)
    zeros = Usage(prompt_tokens=1000, completion_tokens=0, cached_tokens=0, cache_write_tokens=0, reasoning_tokens=0)
    assert SONNET.cost(unreported) == SONNET.cost(zeros) == pytest.approx(1000 * 3 * M)


def test_a_tier_applies_to_every_token_once_the_prompt_passes_its_start():
    below = Usage(prompt_tokens=200_000, completion_tokens=10)
    above = Usage(prompt_tokens=200_001, completion_tokens=10)
    assert SONNET.cost(below) == pytest.approx(200_000 * 3 * M + 10 * 15 * M)
    assert SONNET.cost(above) == pytest.approx(200_001 * 6 * M + 10 * 22.5 * M)
    assert SONNET.output_rate() == 22.5 * M


def test_more_cache_than_prompt_never_charges_negative_input():
    odd = Usage(prompt_tokens=10, completion_tokens=0, cached_tokens=50)
    assert SONNET.cost(odd) == pytest.approx(50 * 0.3 * M)


def test_unpriced_costs_nothing_and_says_so():
    assert UNPRICED.cost(Usage(prompt_tokens=10**6, completion_tokens=10**6)) == 0.0
    assert UNPRICED.estimate(10**6, 10**6) == 0.0
    assert UNPRICED.describe() == {"priced": False, "source": "unpriced"}


def test_config_price_defaults_cache_prices_to_input_and_applies_batch_share():
    sheet = from_config(Price(input=2.0, output=8.0, batch=0.5))
    usage = Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=400, cache_write_tokens=100)
    assert sheet.cost(usage) == pytest.approx(1000 * 2 * M + 100 * 8 * M)
    assert sheet.cost(usage, batch=True) == pytest.approx((1000 * 2 * M + 100 * 8 * M) / 2)
    cached = from_config(Price(input=2.0, output=8.0, cached_input=0.5, cache_write=2.5))
    assert cached.cost(usage) == pytest.approx(500 * 2 * M + 400 * 0.5 * M + 100 * 2.5 * M + 100 * 8 * M)


def test_off_peak_prices_follow_the_time_of_day():
    peak, off = PriceSheet(Rates(input=2 * M, output=4 * M)), PriceSheet(Rates(input=1 * M, output=2 * M))
    sheet = PriceSheet(off.base, daily=((0, off), (1800, peak), (59400, off)))
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    at = [datetime(2026, 11, 26, h, m, tzinfo=UTC).timestamp() for h, m in ((0, 10), (0, 30), (16, 29), (16, 30))]
    assert [sheet.cost(usage, moment=t) for t in at] == pytest.approx([0.003, 0.006, 0.006, 0.003])
    assert sheet.estimate(1000, 1000) == pytest.approx(0.006)  # reservations take the dearest hour


def test_estimate_prices_every_prompt_token_as_uncached():
    assert SONNET.estimate(1000, 500) == pytest.approx(1000 * 3 * M + 500 * 15 * M)
    assert SONNET.estimate(300_000, 0) == pytest.approx(300_000 * 6 * M)


@pytest.mark.parametrize(("cost", "text"), [(0.0, "0"), (0.0003369, "0.0003369"), (1.5, "1.5"),
                                            (1e-12, "0"), (12.3456789012, "12.3456789012")])
def test_usd_is_a_plain_decimal(cost, text):
    assert usd(cost) == text
