"""Building a deployment complete: adapter, health, breaker and policy chain.

The catalog asks ``DeploymentFactory`` for each deployment it needs (the
configured ones at start, wildcard ones on first use); nothing is attached to
a deployment afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from switchyard.core.config import DeploymentConfig
from switchyard.core.config.reliability import ReliabilityConfig
from switchyard.core.errors import SwitchyardError
from switchyard.core.registry import Registry
from switchyard.core.stage import Stage
from switchyard.policies.breaker import CircuitBreaker, is_deployment_fault
from switchyard.policies.chain import build_chain
from switchyard.policies.retry import RetryBudget
from switchyard.pricing.book import PriceBook
from switchyard.routing.catalog import Deployment
from switchyard.routing.health import DeploymentHealth
from switchyard.routing.load import DeploymentLoad


class DeploymentFactory:
    """``factory(deployment_id, alias, config) -> Deployment``, for ``Catalog``.

    ``http_for(config)`` is the upstream client a deployment sends through (its
    egress: TLS trust, proxy, HTTP/2).
    """

    def __init__(
        self,
        registry: Registry,
        http_for: Callable[[DeploymentConfig], Any],
        settings: ReliabilityConfig,
        budget: RetryBudget,
        *,
        latency_decay: float,
        gate_for: Callable[[str, DeploymentConfig], Stage | None],
        on_breaker: Callable[[CircuitBreaker], None] | None = None,
        prices: PriceBook | None = None,
        metrics: Any = None,
        tracing: Any = None,
        validation: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.http_for = http_for
        self.settings = settings
        self.budget = budget
        self.latency_decay = latency_decay
        self.gate_for = gate_for
        self.on_breaker = on_breaker
        self.prices = prices or PriceBook()
        #: ``observe.metrics.Metrics`` when metrics are on: each chain gets its ``Metered`` stage.
        self.metrics = metrics
        #: ``observe.tracing.Tracing`` when tracing is on: each chain gets its ``TracedAttempt`` policy.
        self.tracing = tracing
        #: ``validation.policy.Validation`` when an alias has ``validation:``: each chain is wrapped by it.
        self.validation = validation
        self.clock = clock

    def __call__(self, deployment_id: str, alias: str, config: DeploymentConfig) -> Deployment:
        settings = self.settings
        config = self._with_defaults(config)
        adapter = self.registry.get(config.provider)(config, self.http_for(config))
        breaker = CircuitBreaker(deployment_id, settings.breaker, self.clock) if settings.breaker.enabled else None
        if breaker is not None and self.on_breaker is not None:
            self.on_breaker(breaker)
        health = DeploymentHealth(breaker)
        chain = build_chain(
            deployment_id, adapter, settings, self.budget,
            first_token=config.timeouts.first_token or settings.timeouts.first_token,
            health=health, gate=self.gate_for(deployment_id, config),
            stream_failed=partial(_stream_failed, health, adapter, config),
            traced=self.tracing.attempt(deployment_id, alias, config, adapter) if self.tracing is not None else None,
        )
        if self.metrics is not None:
            chain = self.metrics.metered(chain, deployment_id, alias, config, adapter, breaker)
        if self.validation is not None:
            chain = self.validation.wrap(chain, deployment_id)
        price = self.prices.for_deployment(config)
        load = DeploymentLoad(self.latency_decay, config, price)
        return Deployment(deployment_id, alias, config, adapter, chain, health, load, price)

    def _with_defaults(self, config: DeploymentConfig) -> DeploymentConfig:
        """A deployment without its own ``timeouts.idle`` gets the gateway default,
        so no stream can stall forever (the adapter reads it from its config)."""
        timeouts = config.timeouts
        idle = self.settings.timeouts.idle
        if timeouts.idle is not None or idle is None:
            return config
        return config.model_copy(update={"timeouts": timeouts.model_copy(update={"idle": idle})})


def credentials(adapter: Any, config: DeploymentConfig) -> list[str]:
    """The secrets a deployment sends upstream (its key, its configured header
    values), to blank out of an upstream's error message."""
    secrets = [getattr(adapter, "api_key", None) or ""]
    for value in config.headers.values():
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        secrets.extend((text, text.rsplit(" ", 1)[-1]))  # "Bearer <token>": the token alone too
    return secrets


def _stream_failed(health: DeploymentHealth, adapter: Any, config: DeploymentConfig,
                   exc: SwitchyardError) -> SwitchyardError:
    """A deployment's stream broke after its first chunk: the client sees it as the
    stream's error event, without the deployment's secrets, and when it says the
    deployment is unwell it counts against the deployment's breaker."""
    if health.breaker is not None and is_deployment_fault(exc):
        health.record_failure(exc)
    return exc.redact(credentials(adapter, config))
