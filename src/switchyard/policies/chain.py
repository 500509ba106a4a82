"""The one place the per-deployment policies are composed.

Order, outermost first (what the pipeline calls is the top)::

    RetryPolicy      backoff + jitter, Retry-After, attempt limit, gateway-wide budget
      BreakerPolicy  refuse while open (CircuitOpen -> fallback), record every outcome
        TimeoutPolicy  deadline check; a stream's first chunk within first_token
          provider       the adapter, or what earlier catalog hooks made of it (capacity
                         gates); transport bounds: per attempt, idle between chunks

Why this order: retries sit outside the breaker so every retry asks the breaker
again (an opening breaker stops them, and ``CircuitOpen`` is never retried);
the timeout sits inside the breaker so a timed-out attempt counts as a failure
and is retried like any other. Streams are primed in ``TimeoutPolicy``: the
first chunk is part of "opening" the stream, so retries, breaker accounting and
(in the pipeline) fallbacks all cover the window before the first byte.

Request-level reliability lives elsewhere: the total deadline and alias fallbacks
in ``policies/fallback.py``; candidate order in ``routing/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from switchyard.core.config.reliability import ReliabilityConfig
from switchyard.policies.breaker import BreakerPolicy, CircuitBreaker
from switchyard.policies.policy import wrap
from switchyard.policies.retry import RetryBudget, RetryPolicy
from switchyard.policies.timeout import TimeoutPolicy
from switchyard.routing.health import DeploymentHealth


def build_chain(
    deployment: Any,
    settings: ReliabilityConfig,
    budget: RetryBudget,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Install the policies on ``deployment`` (a ``routing.catalog.Deployment``):
    sets ``deployment.health`` (with its breaker) and wraps ``deployment.provider``
    (the adapter, or what earlier hooks made of it)."""
    _default_stream_timeouts(deployment, settings)
    breaker = CircuitBreaker(deployment.id, settings.breaker, clock) if settings.breaker.enabled else None
    deployment.health = DeploymentHealth(breaker)
    first_token = deployment.config.timeouts.first_token or settings.timeouts.first_token
    provider = wrap(TimeoutPolicy, deployment.provider, deployment.id, first_token)
    if breaker is not None:
        provider = wrap(BreakerPolicy, provider, deployment.id, deployment.health)
    if settings.retry.attempts > 1:
        provider = wrap(RetryPolicy, provider, deployment.id, settings.retry, budget)
    deployment.provider = provider


def _default_stream_timeouts(deployment: Any, settings: ReliabilityConfig) -> None:
    """A deployment without its own ``timeouts.idle`` gets the gateway default, so
    no stream can stall forever; the adapter reads it from its deployment config."""
    timeouts = deployment.config.timeouts
    if timeouts.idle is not None or settings.timeouts.idle is None:
        return
    config = deployment.config.model_copy(update={"timeouts": timeouts.model_copy(update={"idle": settings.timeouts.idle})})
    deployment.config = config
    if getattr(deployment.adapter, "deployment", None) is not None:
        deployment.adapter.deployment = config
