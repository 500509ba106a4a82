"""Config for reliability: retries, circuit breakers, timeouts, health checks, regions.

Every key has a working default, so ``reliability:`` may be left out entirely::

    reliability:
      retry: {attempts: 2, base_delay: 0.1, max_delay: 2.0, max_retry_after: 2.0,
              budget_ratio: 0.2, budget_window: 10, budget_min: 10}
      breaker: {consecutive_failures: 5, error_rate: 0.5, window: 30, min_requests: 20,
                open_for: 15, half_open_probes: 1}
      timeouts: {total: 300, first_token: 60, idle: 120, max_client_timeout: 600}
      health_checks: {interval: 10, timeout: 5, probe: models}
      region: eu-west
      region_order: [eu-west, us-east]

Per alias (in ``models.<alias>``): ``fallbacks`` (other aliases by error class)
and ``region`` (the alias's preferred region).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from switchyard.core.config.base import Strict


class RetryConfig(Strict):
    """Retries of one deployment, with exponential backoff and full jitter.

    ``attempts`` counts the first try (1 turns retries off). A wait the upstream
    asks for (``Retry-After``...) longer than ``max_retry_after`` is not waited
    out: the request moves to the next deployment instead. The gateway-wide
    budget allows at most ``budget_ratio`` retries per request seen over the last
    ``budget_window`` seconds (plus ``budget_min`` per window), so retries cannot
    multiply an outage.
    """

    attempts: int = Field(default=2, ge=1, le=10)
    base_delay: float = Field(default=0.1, ge=0)
    max_delay: float = Field(default=2.0, ge=0)
    max_retry_after: float = Field(default=2.0, ge=0)
    budget_ratio: float = Field(default=0.2, ge=0, le=10)
    budget_window: float = Field(default=10.0, gt=0)
    budget_min: int = Field(default=10, ge=0)


class BreakerConfig(Strict):
    """A circuit breaker per deployment.

    Opens on ``consecutive_failures`` failures in a row, or when at least
    ``min_requests`` calls in the last ``window`` seconds failed at a rate of
    ``error_rate`` or more. Stays open ``open_for`` seconds, then lets
    ``half_open_probes`` calls through; they all succeed -> closed, one fails -> open.
    """

    enabled: bool = True
    consecutive_failures: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    window: float = Field(default=30.0, gt=0)
    min_requests: int = Field(default=20, ge=1)
    open_for: float = Field(default=15.0, gt=0)
    half_open_probes: int = Field(default=1, ge=1)
    sync_interval: float = Field(default=0.5, gt=0, description="Seconds between pulls of shared state (Redis).")


class TimeoutDefaults(Strict):
    """Seconds. ``total`` bounds a whole request (every retry and fallback);
    ``first_token`` and ``idle`` apply to streams of deployments that do not set
    their own. A client may ask for less with ``x-switchyard-timeout: <seconds>``,
    never for more than ``max_client_timeout``."""

    total: float | None = Field(default=None, gt=0)
    first_token: float | None = Field(default=None, gt=0)
    idle: float | None = Field(default=120.0, gt=0)
    max_client_timeout: float = Field(default=600.0, gt=0)


class HealthCheckConfig(Strict):
    """Active probes of every deployment, every ``interval`` seconds.

    ``probe: models`` sends ``GET <base_url>/models``; ``probe: chat`` sends a
    one-token chat. A deployment leaves rotation after ``unhealthy_after``
    failed probes in a row and returns after ``healthy_after`` good ones.
    """

    interval: float = Field(default=10.0, gt=0)
    timeout: float = Field(default=5.0, gt=0)
    probe: Literal["models", "chat"] = "models"
    unhealthy_after: int = Field(default=1, ge=1)
    healthy_after: int = Field(default=1, ge=1)


class ReliabilityConfig(Strict):
    """The ``reliability`` section."""

    retry: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    timeouts: TimeoutDefaults = Field(default_factory=TimeoutDefaults)
    health_checks: HealthCheckConfig | None = Field(default=None, description="Unset: passive health only.")
    region: str | None = Field(default=None, description="The gateway's preferred region.")
    region_order: list[str] = Field(default_factory=list, description="Failover order of regions.")


class Fallbacks(Strict):
    """Other aliases to try, by error class, after every deployment of this alias failed.

    ``default``: rate limits, outages and timeouts; ``context_window``: the
    prompt is too long (a larger-context alias); ``content_policy``: the upstream
    refused the content. A plain list means ``default``.
    """

    default: list[str] = Field(default_factory=list)
    context_window: list[str] = Field(default_factory=list)
    content_policy: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"default": value}
        return value
