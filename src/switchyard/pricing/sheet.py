"""A deployment's price, resolved once, and the cost of one answer in microseconds.

``PriceSheet`` holds US dollars *per token* as plain floats: for uncached
prompt tokens, prompt tokens read from and written to the provider's cache,
completion tokens, and a flat amount per request — the ``Rates`` — plus the
tiers of models whose price rises with the prompt's length (the rates of the
highest tier whose start the prompt exceeds apply to *all* its tokens, as the
providers bill) and the rates of batch processing when they differ.

The usage it prices is counted the OpenAI way (``core.messages.Usage``):
``prompt_tokens`` includes cache reads and writes, ``completion_tokens``
includes reasoning. So::

    cost = (prompt - cached - written) * input + cached * cache_read
           + written * cache_write + completion * output + request

A cache detail that was not reported (None) counts as 0: those tokens are then
billed as plain input, which is what the provider charges when it says nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from switchyard.core.config.models import Price
from switchyard.core.messages import Usage

#: The response header carrying an answer's cost.
COST_HEADER = "x-switchyard-cost-usd"
PER_MILLION = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Rates:
    """US dollars per token (and per request)."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0
    request: float = 0.0

    def scaled(self, factor: float) -> Rates:
        return Rates(self.input * factor, self.output * factor, self.cache_read * factor,
                     self.cache_write * factor, self.request * factor)

    def per_million(self) -> dict[str, float]:
        """The rates as people write them: dollars per million tokens (and per request)."""
        return {"input": round(self.input * PER_MILLION, 6), "output": round(self.output * PER_MILLION, 6),
                "cache_read": round(self.cache_read * PER_MILLION, 6),
                "cache_write": round(self.cache_write * PER_MILLION, 6), "request": self.request}


@dataclass(frozen=True, slots=True)
class PriceSheet:
    """One deployment's prices (see the module docstring). ``priced`` is False for
    a model nobody bills (local models) or one the price table does not know:
    its cost is 0 and its spend records say so."""

    base: Rates = Rates()
    #: ``(start, rates)``, ascending: the rates when the prompt has more than ``start`` tokens.
    tiers: tuple[tuple[int, Rates], ...] = ()
    #: The sheet of batch processing, when the provider discounts it.
    batch: PriceSheet | None = None
    priced: bool = True
    #: Where the prices come from: ``config``, ``genai-prices:<provider>/<model>``, or why there are none.
    source: str = "config"
    #: Prices by the time of day (off-peak hours): ``(seconds after midnight UTC, sheet)``, ascending;
    #: the sheet of the last start at or before the moment of pricing applies. Empty: one price all day.
    daily: tuple[tuple[int, PriceSheet], ...] = ()

    def at(self, moment: float | None = None) -> PriceSheet:
        """The sheet in force at ``moment`` (epoch seconds; now when None)."""
        if not self.daily:
            return self
        second = int((time.time() if moment is None else moment) % 86_400)
        current = self.daily[0][1]
        for start, sheet in self.daily:
            if start <= second:
                current = sheet
            else:
                break
        return current

    def rates(self, prompt_tokens: int) -> Rates:
        rates = self.base
        for start, tier in self.tiers:
            if prompt_tokens > start:
                rates = tier
            else:
                break
        return rates

    def cost(self, usage: Usage, *, batch: bool = False, moment: float | None = None) -> float:
        """US dollars for ``usage`` (0.0 when unpriced), at ``moment`` (now when None)."""
        if self.daily:
            return self.at(moment).cost(usage, batch=batch)
        if batch and self.batch is not None:
            return self.batch.cost(usage)
        if not self.priced:
            return 0.0
        prompt = usage.prompt_tokens
        rates = self.rates(prompt) if self.tiers else self.base
        cached = usage.cached_tokens or 0
        written = usage.cache_write_tokens or 0
        fresh = prompt - cached - written
        if fresh < 0:  # a provider reporting more cache than prompt: never a negative charge
            fresh = 0
        return (fresh * rates.input + cached * rates.cache_read + written * rates.cache_write
                + usage.completion_tokens * rates.output + rates.request)

    def estimate(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of a request before it is made: every prompt token uncached, at today's dearest."""
        if self.daily:
            return max(sheet.estimate(prompt_tokens, completion_tokens) for _, sheet in self.daily)
        if not self.priced:
            return 0.0
        rates = self.rates(prompt_tokens) if self.tiers else self.base
        return prompt_tokens * rates.input + completion_tokens * rates.output + rates.request

    def output_rate(self) -> float:
        """The highest price of one completion token (what a stream's next token may cost)."""
        if self.daily:
            return max(sheet.output_rate() for _, sheet in self.daily)
        return max([self.base.output, *(r.output for _, r in self.tiers)]) if self.priced else 0.0

    def describe(self) -> dict[str, object]:
        """For the admin API: the source and the rates per million tokens."""
        out: dict[str, object] = {"priced": self.priced, "source": self.source}
        if self.priced:
            out["per_million"] = self.base.per_million()
            if self.tiers:
                out["tiers"] = [{"above_prompt_tokens": start, **rates.per_million()} for start, rates in self.tiers]
            if self.batch is not None:
                out["batch_per_million"] = self.batch.base.per_million()
            if self.daily:
                out["by_time_of_day_utc"] = [{"from": f"{start // 3600:02d}:{start % 3600 // 60:02d}",
                                              **sheet.base.per_million()} for start, sheet in self.daily]
        return out


def unpriced(reason: str) -> PriceSheet:
    """A sheet for a model without a price: cost 0, flagged."""
    return PriceSheet(priced=False, source=reason)


UNPRICED = unpriced("unpriced")


def from_config(price: Price) -> PriceSheet:
    """The sheet of a deployment's ``price:`` (dollars per million tokens)."""
    scale = 1.0 / PER_MILLION
    input_ = price.input * scale
    cached, written = price.cached_input, price.cache_write
    base = Rates(input=input_, output=price.output * scale,
                 cache_read=input_ if cached is None else cached * scale,
                 cache_write=input_ if written is None else written * scale)
    share = price.batch
    batch = PriceSheet(base.scaled(share), source="config (batch)") if share is not None else None
    return PriceSheet(base, batch=batch, source="config")


def usd(cost: float) -> str:
    """A cost as the header writes it: plain decimal, at most 10 places (``0.00042``)."""
    if not cost:
        return "0"
    text = f"{cost:.10f}".rstrip("0").rstrip(".")
    return text or "0"
