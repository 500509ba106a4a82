"""Upstream capacity: a gate in front of each deployment that has limits.

The gate sits innermost around the adapter (``Catalog(wrap=...)``), so it is
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

import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from switchyard.admission.estimate import Estimator
from switchyard.admission.gcra import KINDS, Bucket
from switchyard.admission.rules import RuleBook, buckets_of
from switchyard.core.call import Call
from switchyard.core.errors import DeploymentSaturated, UpstreamRateLimited
from switchyard.providers.base import CompletionModel, EmbeddingModel
from switchyard.providers.retry_after import parse_duration

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
        for counts in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{counts}")
            if remaining is None:
                continue
            try:
                left = float(remaining)
                limit = float(headers.get(f"x-ratelimit-limit-{counts}") or 0)
            except ValueError:
                continue
            margin = max(1.0, limit * MARGIN)
            if left > margin:
                continue
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{counts}") or "") or 1.0
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


class GatedProvider:
    """A provider behind its deployment's gate (build it with ``gated``)."""

    def __init__(self, inner: Any, gate: DeploymentGate) -> None:
        self.inner = inner
        self.gate = gate

    async def _call(self, op: str, request: Any, call: Call) -> tuple[Any, int, Any]:
        """Pass the gate, then call the upstream: ``(result, reserved, ref)``. A failure
        refunds the reservation; a 429 also pauses the deployment."""
        gate = self.gate
        reserved, ref = await gate.enter(request)
        try:
            return await getattr(self.inner, op)(request, call), reserved, ref
        except BaseException as exc:
            if isinstance(exc, UpstreamRateLimited):
                gate.pause(exc.retry_after or 1.0, "the provider answered 429")
            await gate.settle(reserved, None, ref)
            raise

    async def _unary(self, op: str, request: Any, call: Call) -> Any:
        result, reserved, ref = await self._call(op, request, call)
        self.gate.learn(getattr(result, "headers", None) or {})
        await self.gate.settle(reserved, result.usage, ref)
        return result

    async def _streaming(self, op: str, request: Any, call: Call) -> AsyncIterator[Any]:
        call.upstream_headers = None  # not an earlier attempt's: the driver sets this stream's when it opens
        chunks, reserved, ref = await self._call(op, request, call)
        self.gate.learn(call.upstream_headers or {})
        return _settling(chunks, self.gate, reserved, ref) if reserved else chunks

    def chat(self, request: Any, call: Call) -> Any:
        return self._unary("chat", request, call)

    def stream(self, request: Any, call: Call) -> Any:
        return self._streaming("stream", request, call)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: never recurse
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"GatedProvider({self.inner!r})"


class _Embed:
    def embed(self, request: Any, call: Call) -> Any:
        return self._unary("embed", request, call)  # type: ignore[attr-defined]


class _Complete:
    def complete(self, request: Any, call: Call) -> Any:
        return self._unary("complete", request, call)  # type: ignore[attr-defined]

    def stream_complete(self, request: Any, call: Call) -> Any:
        return self._streaming("stream_complete", request, call)  # type: ignore[attr-defined]


@functools.cache
def _variant(embed: bool, complete: bool) -> type:
    bases: tuple[type, ...] = (GatedProvider,)
    if embed:
        bases += (_Embed,)
    if complete:
        bases += (_Complete,)
    return type("GatedProvider", bases, {}) if len(bases) > 1 else GatedProvider


def gated(inner: Any, gate: DeploymentGate) -> GatedProvider:
    """``inner`` behind ``gate``, keeping exactly ``inner``'s abilities (embeddings, completions)."""
    return _variant(isinstance(inner, EmbeddingModel), isinstance(inner, CompletionModel))(inner, gate)


async def _settling(chunks: Any, gate: DeploymentGate, reserved: int, ref: float | None) -> AsyncIterator[Any]:
    usage = None
    try:
        async for chunk in chunks:
            if chunk.usage is not None:
                usage = chunk.usage
            yield chunk
    finally:
        await chunks.aclose()
        await gate.settle(reserved, usage, ref)


def deployment_buckets(deployment: Any, rules: RuleBook | None) -> list[Bucket]:
    """The configured capacity of a deployment: its own rpm/tpm, and any ``scope: deployment`` rule."""
    out: list[Bucket] = []
    config = deployment.config
    subject = deployment.id
    rule = rules.rule_for("deployment", subject) if rules is not None else None
    if rule is not None:
        out.extend(buckets_of(rule, "deployment", subject))
    kinds = {b.kind for b in out}
    for kind in ("rpm", "tpm"):
        limit = getattr(config, kind)
        if limit is not None and kind not in kinds:
            out.append(Bucket(f"deployment:{subject}:{kind}", "deployment", subject, kind, limit, KINDS[kind][0]))
    return out
