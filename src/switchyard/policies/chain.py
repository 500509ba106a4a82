"""The one place the per-deployment policies are composed.

Order, outermost first (what the route stage calls is the top)::

    RetryPolicy        backoff + jitter, Retry-After, attempt limit, gateway-wide budget
      BreakerPolicy    refuse while open (CircuitOpen -> fallback), record every outcome
       (TracedAttempt  one span per upstream try; only with tracing: observe/spans.py)
        TimeoutPolicy  deadline check; a stream's first chunk within first_token (read once)
          CapacityGate the deployment's rpm/tpm and what its provider's headers say
                       (``admission/deployments.py``), when it has any
            provider   the adapter: ``chat`` / ``stream`` / ``embed`` / ``complete`` /
                       ``stream_complete`` by ``call.kind``; transport bounds: per
                       attempt, idle between chunks

Why this order: retries sit outside the breaker so every retry asks the breaker
again (an opening breaker stops them, and ``CircuitOpen`` is never retried);
the timeout sits inside the breaker so a timed-out attempt counts as a failure
and is retried like any other; a traced try sits between them, so every retry is
a span of its own, a call the breaker refused is none, and a timeout (or a
stream's first chunk) ends one; the capacity gate is innermost so each attempt
reserves capacity only when it really goes upstream. Streams are primed in
``TimeoutPolicy``: the first chunk is part of "opening" the stream, so retries,
breaker accounting and (in the pipeline) fallbacks all cover the window before
the first byte.

Each policy is a stage ``(call, next)`` (``core/stage.py``), folded once per
deployment when it is built. Request-level reliability lives in the pipeline:
the total deadline at its entry, alias fallbacks in the route stage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

from switchyard.core.call import Call, Kind
from switchyard.core.config.reliability import ReliabilityConfig
from switchyard.core.stage import Stage, Streaming, Unary, fold
from switchyard.policies.breaker import BreakerPolicy
from switchyard.policies.primed import StreamFailed
from switchyard.policies.retry import RetryBudget, RetryPolicy
from switchyard.policies.timeout import TimeoutPolicy


@dataclass(frozen=True, slots=True)
class Chain:
    """A deployment's policies folded over its adapter: what the route stage calls."""

    unary: Unary
    stream: Streaming
    stages: tuple[Stage, ...]


def build_chain(
    deployment_id: str,
    adapter: Any,
    settings: ReliabilityConfig,
    budget: RetryBudget,
    *,
    first_token: float | None,
    health: Any,
    gate: Stage | None = None,
    stream_failed: StreamFailed | None = None,
    traced: Stage | None = None,
) -> Chain:
    """The chain of one deployment, in the order drawn above. A breaker policy is
    there when ``health`` has a breaker; retries when more than one attempt is allowed;
    ``traced`` (tracing on) between the breaker and the timeout.
    ``stream_failed`` sees a stream's errors after its first chunk (``policies/primed.py``)."""
    stages: list[Stage] = []
    if settings.retry.attempts > 1:
        stages.append(RetryPolicy(deployment_id, settings.retry, budget))
    if health.breaker is not None:
        stages.append(BreakerPolicy(deployment_id, health))
    if traced is not None:
        stages.append(traced)
    stages.append(TimeoutPolicy(deployment_id, first_token, stream_failed))
    if gate is not None:
        stages.append(gate)
    unary, stream = fold(stages, *provider_calls(adapter))
    return Chain(unary, stream, tuple(stages))


def provider_calls(adapter: Any) -> tuple[Unary, Streaming]:
    """The chain's terminal: the adapter's method for ``call.kind`` (a capability the
    adapter lacks was refused before routing)."""

    def unary(call: Call) -> Awaitable[Any]:
        kind = call.kind
        if kind is Kind.CHAT:
            return adapter.chat(call.request, call)  # type: ignore[no-any-return]
        if kind is Kind.EMBED:
            return adapter.embed(call.request, call)  # type: ignore[no-any-return]
        if kind is Kind.COMPLETE:
            return adapter.complete(call.request, call)  # type: ignore[no-any-return]
        return adapter.rerank(call.request, call)  # type: ignore[no-any-return]

    def stream(call: Call) -> Awaitable[AsyncIterator[Any]]:
        if call.kind is Kind.CHAT:
            return adapter.stream(call.request, call)  # type: ignore[no-any-return]
        return adapter.stream_complete(call.request, call)  # type: ignore[no-any-return]

    return unary, stream
