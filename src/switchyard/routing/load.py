"""What routing measures about each deployment: calls in flight, recent latency
and time to first token (EWMAs), and its own request and token rate.

``DeploymentLoad`` lives on each ``Deployment`` (``deployment.load``). The
pipeline reports the start and end of every call through a ``LoadTracker``
(plain attribute updates, no locks: one event loop per process). The rate
window is a routing-side estimate for the headroom strategy, not an admission
limit: two one-minute buckets, the previous one weighted by how much of it
still overlaps the last sixty seconds.
"""

from __future__ import annotations

import time
from typing import Any

from switchyard.core.settling import Settling
from switchyard.pricing.sheet import PriceSheet, from_config

WINDOW = 60.0
#: The cost strategy's price per token of a deployment without a price: sorts last (a large
#: finite number: 0 tokens x inf would be NaN).
UNPRICED = 1e12
# A failed call counts as at least this slow (seconds) in the latency EWMAs.
FAILURE_PENALTY = 5.0


class DeploymentLoad:
    """Counters and moving averages for one deployment."""

    __slots__ = ("inflight", "latency", "ttft", "samples", "decay", "per_request", "per_token", "price_in",
                 "price_out", "sheet", "_bucket", "_requests", "_tokens", "_prev_requests", "_prev_tokens",
                 "share_next", "share_prev", "token_share", "token_share_prev")

    def __init__(self, decay: float = 0.3, config: Any = None, price: PriceSheet | None = None) -> None:
        self.inflight = 0
        #: EWMA seconds of whole calls and of time to first chunk; None until sampled.
        self.latency: float | None = None
        self.ttft: float | None = None
        self.samples = 0
        self.decay = decay
        #: Share of the deployment's per-minute capacity one request / one token
        #: uses (1/rpm, 1/tpm; 0 when unlimited), set by the router for the headroom strategy.
        self.per_request = 0.0
        self.per_token = 0.0
        #: US dollars per prompt and per completion token, for the cost strategy: the price the
        #: gateway bills answers with (``switchyard.pricing``); unpriced sorts last.
        self.price_in = UNPRICED
        self.price_out = UNPRICED
        #: The whole sheet when a flat pair of rates does not say it (prompt-length tiers,
        #: prices by the time of day); None otherwise.
        self.sheet: PriceSheet | None = None
        self._bucket = 0
        self._requests = 0
        self._tokens = 0
        self._prev_requests = 0
        self._prev_tokens = 0
        #: The window as shares of capacity, kept up to date for the headroom strategy
        #: (float arithmetic per decision is half the cost of recomputing from counts):
        #: this minute's requests counting one more, the previous minute's, and the same for tokens.
        self.share_next = 0.0
        self.share_prev = 0.0
        self.token_share = 0.0
        self.token_share_prev = 0.0
        if config is not None:
            self._configure(config, price)

    def _shares(self) -> None:
        self.share_next = self.per_request * (self._requests + 1)
        self.share_prev = self.per_request * self._prev_requests
        self.token_share = self.per_token * self._tokens
        self.token_share_prev = self.per_token * self._prev_tokens

    def _roll(self, now: float) -> int:
        bucket = int(now // WINDOW)
        if bucket != self._bucket:
            if bucket == self._bucket + 1:
                self._prev_requests, self._prev_tokens = self._requests, self._tokens
            else:
                self._prev_requests = self._prev_tokens = 0
            self._requests = self._tokens = 0
            self._bucket = bucket
            self._shares()
        return bucket

    def count(self, now: float, requests: int, tokens: int) -> None:
        """Add to the rate window."""
        self._roll(now)
        self._requests += requests
        self._tokens += tokens
        self.share_next = self.per_request * (self._requests + 1)
        self.token_share = self.per_token * self._tokens

    def rates(self, now: float) -> tuple[float, float]:
        """Estimated ``(requests, tokens)`` in the last sixty seconds."""
        bucket = self._roll(now)
        overlap = 1.0 - (now - bucket * WINDOW) / WINDOW
        return self._requests + self._prev_requests * overlap, self._tokens + self._prev_tokens * overlap

    def _configure(self, config: Any, price: PriceSheet | None) -> None:
        """Copy the deployment's capacity and prices (plain floats are cheaper to read). ``price``
        is the sheet its answers are billed with (the config's ``price:``, else the price table);
        without one, the config's ``price:``."""
        self.per_request = 1.0 / config.rpm if config.rpm else 0.0
        self.per_token = 1.0 / config.tpm if config.tpm else 0.0
        if (price is None or not price.priced) and config.price is not None:
            price = from_config(config.price)
        if price is not None and price.priced:
            self.price_in, self.price_out = price.base.input, price.base.output
            if price.tiers or price.daily:
                self.sheet = price
        self._shares()

    @property
    def priced(self) -> bool:
        return self.price_in < UNPRICED

    def quote(self, prompt_tokens: int, output_tokens: int) -> float:
        """US dollars this deployment would bill for the tokens, now (``UNPRICED``-scaled when unpriced)."""
        sheet = self.sheet
        if sheet is not None:
            return sheet.at().estimate(prompt_tokens, output_tokens)
        return prompt_tokens * self.price_in + output_tokens * self.price_out

    def observe(self, latency: float | None = None, ttft: float | None = None) -> None:
        """Fold a sample into the EWMAs."""
        a = self.decay
        if latency is not None:
            self.latency = latency if self.latency is None else self.latency + a * (latency - self.latency)
        if ttft is not None:
            self.ttft = ttft if self.ttft is None else self.ttft + a * (ttft - self.ttft)
        self.samples += 1

    def snapshot(self) -> dict[str, Any]:
        requests, tokens = self.rates(time.monotonic())
        return {
            "inflight": self.inflight,
            "latency_ms": None if self.latency is None else round(self.latency * 1000, 2),
            "ttft_ms": None if self.ttft is None else round(self.ttft * 1000, 2),
            "requests_last_minute": round(requests, 1),
            "tokens_last_minute": round(tokens, 1),
        }


class LoadTracker:
    """The pipeline's hooks around each attempt.

    ``begin`` before the call; ``failed`` or ``succeeded`` after. A stream
    counts as in flight until it is closed only when ``streams_inflight`` (the
    least-busy strategy needs it): that costs a wrapping generator per stream.
    """

    __slots__ = ("streams_inflight",)

    def __init__(self, streams_inflight: bool) -> None:
        self.streams_inflight = streams_inflight

    def begin(self, deployment: Any, estimated_tokens: int = 0) -> float:
        now = time.monotonic()
        load = deployment.load
        load.inflight += 1
        load.count(now, 1, estimated_tokens)
        return now

    def failed(self, deployment: Any, started: float, upstream_fault: bool = True) -> None:
        """The attempt raised; an upstream fault (one a fallback may cover) counts as slow."""
        load = deployment.load
        load.inflight -= 1
        if not upstream_fault:
            return
        elapsed = max(time.monotonic() - started, FAILURE_PENALTY)
        load.observe(latency=elapsed, ttft=elapsed)

    def succeeded(self, deployment: Any, started: float, result: Any) -> Any:
        elapsed = time.monotonic() - started
        load = deployment.load
        if hasattr(result, "__anext__"):  # a primed stream: its first chunk has arrived
            load.observe(ttft=elapsed)
            if self.streams_inflight:
                async def closed(usage: Any) -> None:
                    if usage is not None:
                        load.count(time.monotonic(), 0, usage.total_tokens)
                    load.inflight -= 1
                    load.observe(latency=time.monotonic() - started)

                return Settling(result, closed)
            load.inflight -= 1
            return result
        load.inflight -= 1
        load.observe(latency=elapsed, ttft=elapsed)
        usage = getattr(result, "usage", None)
        if usage is not None:
            load.count(time.monotonic(), 0, usage.total_tokens)
        return result
