"""Prices from ``genai-prices``: pydantic's maintained, offline table of model prices.

The table is large: importing it costs about 0.3 s and 20 MB, and one of its
``calc_price`` calls ~160 µs (it matches the model name every time). So it is
never asked per request. ``lookup`` runs when a deployment is built (at start,
or on first use for a wildcard's model), imports the package on first need —
a gateway whose models are all local or priced in its config never loads it —
finds the provider's model once, and reduces its prices to a ``PriceSheet`` of
plain floats.

The reduction asks the table's own arithmetic the price of one-token probes
(one prompt token; one read from the cache; one written to it; one completion
token; nothing, for a per-request price) below each tier's start and just past
it, so the table's conventions — a cache write without a price of its own, the
tier a prompt falls in — are kept rather than re-implemented. Prices the table
changes on a date are taken as they are when the deployment is built; prices
that change with the time of day (off-peak hours) are kept for each part of
the day and chosen when an answer is priced.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from switchyard.pricing.sheet import PriceSheet, Rates, unpriced

log = logging.getLogger("switchyard.pricing")

#: Our provider names -> the table's provider ids, tried in order.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "azure": ("azure", "openai"),  # an Azure deployment named after its model is priced as that model
    "anthropic": ("anthropic",),
    "gemini": ("google",),
    "vertex": ("google",),
    "bedrock": ("aws",),
    "cohere": ("cohere",),
    "groq": ("groq",),
    "mistral": ("mistral",),
    "deepseek": ("deepseek",),
    "together": ("together",),
    "fireworks": ("fireworks",),
    "openrouter": ("openrouter",),
}
#: Models that run on your own machines: nobody bills them.
LOCAL = frozenset({"ollama", "ollama_chat", "vllm", "fake"})
#: The table's price context for batch processing.
BATCH = {"processing": "batch"}
DAY = 86_400


def lookup(provider: str, model: str, base_url: str | None = None, *, when: datetime | None = None) -> PriceSheet:
    """The price of ``model`` at ``provider`` (an ``openai_compatible`` one is found by its
    ``base_url``); an unpriced sheet saying why when the table has none."""
    if provider in LOCAL:
        return unpriced(f"{provider}: a local model, nobody bills it")
    ids = PROVIDERS.get(provider)
    if ids is None and not (provider == "openai_compatible" and base_url):
        return unpriced(f"{provider}: no price table for this provider (set price: on the deployment)")
    if model == "*":
        return unpriced("a wildcard: priced per model when first used")
    import genai_prices
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    found: Any = None
    for provider_id in ids or ():
        try:
            found = snapshot.find_provider_model(model, None, provider_id, None)
            break
        except LookupError:
            continue
    if found is None and ids is None:
        try:
            found = snapshot.find_provider_model(model, None, None, base_url)
        except LookupError:
            found = None
    version = genai_prices.__version__
    if found is None:
        return unpriced(f"{provider}/{model}: not in genai-prices {version} (set price: on the deployment)")
    table_provider, info = found
    source = f"genai-prices {version}: {table_provider.id}/{info.id}"
    now = when or datetime.now(UTC)
    try:
        hours = _times_of_day(info)
        if not hours:
            return _sheet_at(info, now, source)
        # Off-peak prices (DeepSeek): the day cut where its prices change, each piece priced at its middle.
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        starts = [0, *hours]
        daily: list[tuple[int, PriceSheet]] = []
        for start, end in zip(starts, [*starts[1:], DAY]):
            sheet = _sheet_at(info, midnight + timedelta(seconds=(start + end) / 2), source)
            if not daily or daily[-1][1] != sheet:
                daily.append((start, sheet))
        if len(daily) == 1:
            return daily[0][1]
        first = daily[0][1]
        return PriceSheet(first.base, first.tiers, first.batch, source=source, daily=tuple(daily))
    except Exception as exc:  # a table entry this reduction cannot read: say so, do not fail the gateway
        log.warning("price_unreadable", extra={"provider": provider, "model": model, "error": repr(exc)[:200]})
        return unpriced(f"{provider}/{model}: genai-prices {version} has a price this gateway cannot read")


def _times_of_day(info: Any) -> list[int]:
    """Seconds after midnight (UTC) at which the model's time-of-day prices change, ascending."""
    from genai_prices.types import TimeOfDateConstraint

    if not isinstance(info.prices, list):
        return []
    cuts: set[int] = set()
    for conditional in info.prices:
        constraint = conditional.constraint
        if isinstance(constraint, TimeOfDateConstraint):
            for moment in (constraint.start_time, constraint.end_time):
                offset = moment.utcoffset()
                seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
                seconds -= int(offset.total_seconds()) if offset is not None else 0
                cuts.add(seconds % DAY)
    cuts.discard(0)
    return sorted(cuts)


def _sheet_at(info: Any, when: datetime, source: str) -> PriceSheet:
    """The model's prices at ``when`` (and its batch prices, when they differ)."""
    standard = info.get_prices(when)
    base, tiers = _reduce(standard)
    batch = None
    batched = info.get_prices(when, BATCH)
    if batched != standard:
        batch_base, batch_tiers = _reduce(batched)
        batch = PriceSheet(batch_base, batch_tiers, source=f"{source} (batch)")
    return PriceSheet(base, tiers, batch, source=source)


def _reduce(model_price: Any) -> tuple[Rates, tuple[tuple[int, Rates], ...]]:
    """A table ``ModelPrice`` as rates per token, below its first tier and past each tier's start."""
    from genai_prices.types import TieredPrices

    starts = sorted({tier.start for value in vars(model_price).values() if isinstance(value, TieredPrices)
                     for tier in value.tiers})
    base = _rates_at(model_price, 0)
    return base, tuple((start, _rates_at(model_price, start + 1)) for start in starts)


def _rates_at(model_price: Any, prompt: int) -> Rates:
    """Rates for a prompt of ``prompt`` tokens (its tier), from one-token probes."""

    def price(input_tokens: int = 0, cache_read: int = 0, cache_write: int = 0, output: int = 0) -> Decimal:
        from genai_prices.types import Usage

        usage = Usage(input_tokens=input_tokens, cache_read_tokens=cache_read, cache_write_tokens=cache_write,
                      output_tokens=output)
        total: Decimal = model_price.calc_price(usage)["total_price"]
        return total

    prompt = max(prompt, 1)
    request = price()
    fresh = price(prompt)
    one = (fresh - request) / prompt  # one uncached prompt token
    # One of the prompt's tokens read from (written to) the cache instead: the difference it makes.
    return Rates(
        input=float(one),
        output=float(price(prompt, output=1) - fresh),
        cache_read=float(price(prompt, cache_read=1) - fresh + one),
        cache_write=float(price(prompt, cache_write=1) - fresh + one),
        request=float(request),
    )
