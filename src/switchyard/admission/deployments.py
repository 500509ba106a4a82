"""Upstream capacity: a gate in front of each deployment that has limits.

The gate sits innermost around the adapter (``policies/chain.py``), so it is
consulted each time routing actually tries a deployment — after admission,
inside the fallback loop. A deployment at capacity refuses with
``DeploymentSaturated`` (429, ``fallback=True``): the pipeline moves on to the
next candidate, and only when every candidate is full does the client see a
429, with the soonest ``Retry-After``. Routing itself is untouched.

Two sources of capacity:

* **configured**: the deployment's ``rpm``/``tpm`` and ``scope: deployment``
  rules, as buckets in the limits backend (sliding window or GCRA, shared
  through Redis);
* **learned**: after each answer the gate reads the provider's
  ``x-ratelimit-remaining-*`` / ``x-ratelimit-reset-*`` headers; when the
  remainder falls to a small margin it pauses the deployment until the
  provider's bucket has regained that margin, and a 429 from the provider
  pauses it for its ``Retry-After``. So the gateway stops sending before the
  provider starts refusing. Streams teach when they open (the provider's
  driver leaves their headers on ``call.upstream_headers``); their 429s do too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from switchyard.admission.estimate import Estimator
from switchyard.admission.rules import RuleBook, buckets_of
from switchyard.core.call import Call
from switchyard.core.errors import DeploymentSaturated, UpstreamRateLimited
from switchyard.core.settling import Settling
from switchyard.core.stage import Streaming, Unary
from switchyard.providers.retry_after import parse_duration
from switchyard.storage.limits.gcra import KINDS, Bucket

#: Pause when the provider says fewer than this share of its limit is left.
MARGIN = 0.02


class DeploymentGate:
    """Admits calls to one deployment while it has capacity."""

    def __init__(self, deployment_id: str, buckets: list[Bucket], backend: Any, estimator: Estimator,
                 learn: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.id = deployment_id
        self.buckets = tuple(buckets)
        self.backend = backend
        self.estimator = estimator
        self.learn_headers = learn
        self.clock = clock
        self.tokens = any(b.counts == "tokens" for b in buckets)
        self.paused_until = 0.0
        self.pause_reason = ""

    async def enter(self, request: Any) -> tuple[int, float | None]:
        """Reserve capacity for one call; returns the tokens reserved and the reservation's ``ref``
        (for ``settle``). Raises DeploymentSaturated."""
        if self.paused_until:
            wait = self.paused_until - self.clock()
            if wait > 0:
                raise DeploymentSaturated(
                    f"Deployment {self.id!r} is at capacity ({self.pause_reason}); resumes in {wait:.2f}s.",
                    retry_after=wait,
                )
            self.paused_until = 0.0
        if not self.buckets:
            return 0, None
        reserved = 0
        if self.tokens:
            completion, _ = self.estimator.completion(request)
            reserved = self.estimator.prompt(request) + completion
        costs = [1 if b.counts == "requests" else reserved for b in self.buckets]
        decision = await self.backend.acquire(self.buckets, costs)
        if not decision.allowed:
            bucket = self.buckets[decision.refused]
            raise DeploymentSaturated(
                f"Deployment {self.id!r} is at its {bucket.kind} limit of {bucket.limit}.",
                retry_after=None if decision.retry_after == float("inf") else decision.retry_after,
            )
        return reserved, decision.ref

    async def settle(self, reserved: int, usage: Any, ref: float | None = None) -> None:
        if not reserved:
            return
        actual = usage.total_tokens if usage is not None else 0
        tokens = [b for b in self.buckets if b.counts == "tokens"]
        if actual != reserved:
            await self.backend.adjust(tokens, [actual - reserved] * len(tokens), ref)

    def learn(self, headers: dict[str, str]) -> None:
        """Read the provider's rate-limit headers after an answer."""
        if not self.learn_headers or not headers:
            return
        for counts, left, limit, reset_in in rate_readings(headers):
            margin = max(1.0, limit * MARGIN)
            if left > margin:
                continue
            reset = reset_in or 1.0
            # The bucket refills (limit - left) over `reset`: wait until it holds `margin` again.
            if limit > left:
                reset = min(reset, reset * (margin - left + 1) / (limit - left))
            self.pause(reset, f"the provider reports {int(left)} {counts} left")

    def pause(self, seconds: float, reason: str) -> None:
        until = self.clock() + seconds
        if until > self.paused_until:
            self.paused_until, self.pause_reason = until, reason

    def status(self) -> dict[str, Any]:
        wait = self.paused_until - self.clock() if self.paused_until else 0.0
        return {"paused_for": round(wait, 3) if wait > 0 else 0.0, "reason": self.pause_reason if wait > 0 else None}


class CapacityGate:
    """The per-deployment policy in front of the provider: passes the gate, calls
    the upstream, learns from its headers, settles the reservation. A failure
    refunds the reservation; a 429 also pauses the deployment."""

    def __init__(self, gate: DeploymentGate) -> None:
        self.gate = gate

    async def _enter(self, call: Call, next: Any) -> tuple[Any, int, Any]:
        gate = self.gate
        reserved, ref = await gate.enter(call.request)
        try:
            return await next(call), reserved, ref
        except BaseException as exc:
            if isinstance(exc, UpstreamRateLimited):
                gate.pause(exc.retry_after or 1.0, "the provider answered 429")
            await gate.settle(reserved, None, ref)
            raise

    async def unary(self, call: Call, next: Unary) -> Any:
        result, reserved, ref = await self._enter(call, next)
        self.gate.learn(getattr(result, "headers", None) or {})
        await self.gate.settle(reserved, result.usage, ref)
        return result

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        chunks: AsyncIterator[Any]
        call.upstream_headers = None  # not an earlier attempt's: the driver sets this stream's when it opens
        chunks, reserved, ref = await self._enter(call, next)
        self.gate.learn(call.upstream_headers or {})  # streams teach too, when they open
        if not reserved:
            return chunks
        gate = self.gate

        async def settle(usage: Any) -> None:
            await gate.settle(reserved, usage, ref)

        return Settling(chunks, settle)


#: Each provider's rate-limit headers: ``(name of one header, how its reset reads)``.
#: OpenAI and most OpenAI-compatible vendors: ``x-ratelimit-remaining-requests`` with a
#: duration (``6m0s``); Anthropic: ``anthropic-ratelimit-requests-remaining`` with an
#: RFC 3339 instant, and separate input / output token buckets.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("x-ratelimit-{field}-{counts}", "duration"),
    ("anthropic-ratelimit-{counts}-{field}", "instant"),
)
_COUNTS = ("requests", "tokens", "input-tokens", "output-tokens")
#: ``(counts, remaining header, limit header, reset header, reset kind)``, spelled out once.
_HEADERS = tuple(
    (counts, *(pattern.format(field=f, counts=counts) for f in ("remaining", "limit", "reset")), kind)
    for pattern, kind in _FAMILIES for counts in _COUNTS
)


def rate_readings(headers: dict[str, str], now: float | None = None) -> list[tuple[str, float, float, float | None]]:
    """``(counts, remaining, limit, seconds until reset)`` for every bucket the headers describe."""
    out = []
    for counts, remaining_name, limit_name, reset_name, reset_kind in _HEADERS:
        remaining = headers.get(remaining_name)
        if remaining is None:
            continue
        try:
            left = float(remaining)
            limit = float(headers.get(limit_name) or 0)
        except ValueError:
            continue
        raw = headers.get(reset_name) or ""
        reset = parse_duration(raw) if reset_kind == "duration" else _until(raw, now)
        out.append((counts, left, limit, reset))
    return out


def _until(instant: str, now: float | None) -> float | None:
    """Seconds from now until an RFC 3339 instant (None when unreadable or past)."""
    try:
        when = datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    left = when - (time.time() if now is None else now)
    return left if left > 0 else None


def deployment_buckets(deployment_id: str, config: Any, rules: RuleBook | None) -> list[Bucket]:
    """The configured capacity of a deployment: its own rpm/tpm, and any ``scope: deployment`` rule."""
    out: list[Bucket] = []
    subject = deployment_id
    rule = rules.rule_for("deployment", subject) if rules is not None else None
    if rule is not None:
        out.extend(buckets_of(rule, "deployment", subject))
    kinds = {b.kind for b in out}
    for kind in ("rpm", "tpm"):
        limit = getattr(config, kind)
        if limit is not None and kind not in kinds:
            out.append(Bucket(f"deployment:{subject}:{kind}", "deployment", subject, kind, limit, KINDS[kind][0]))
    return out
