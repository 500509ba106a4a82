"""The reliability layer as one object owned by ``Services``.

``Reliability(config, http, shared)``; ``start(catalog, router, gateway)``
installs the policy chain (``policies/chain.py``) on every deployment the
catalog has built or will build (``Catalog.add_wrap``, after the other hooks so
retries and breakers see everything below them), plugs in the region
preference and the fallback chain, and starts the background tasks (breaker
sync through the shared store, active health checks); ``aclose`` cancels them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from switchyard.core.config import Config
from switchyard.policies.chain import build_chain
from switchyard.policies.fallback import FallbackChain
from switchyard.policies.health_checks import HealthChecker
from switchyard.policies.retry import RetryBudget
from switchyard.routing.regions import RegionPreference
from switchyard.storage import Store
from switchyard.tasks.breaker_sync import BreakerSync


class Reliability:
    """Retries, breakers, timeouts, fallbacks, health checks and regions for one gateway."""

    def __init__(self, config: Config, http: Any, shared: Store | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.settings = config.reliability
        self.http = http
        self.clock = clock
        self.budget = RetryBudget.from_config(self.settings.retry)
        self.regions = RegionPreference.from_config(config)
        self.shared: BreakerSync | None = None
        if shared is not None and self.settings.breaker.enabled:  # the store replicas share (redis:)
            self.shared = BreakerSync(shared, self.settings.breaker.sync_interval)
        self.checker: HealthChecker | None = None
        self.fallbacks: FallbackChain | None = None
        self.catalog: Any = None

    def wrap(self, deployment: Any) -> None:
        """``Catalog(wrap=...)``: install the policies on a new deployment."""
        build_chain(deployment, self.settings, self.budget, clock=self.clock)
        if self.shared is not None and deployment.health.breaker is not None:
            self.shared.add(deployment.health.breaker)

    def start(self, catalog: Any, router: Any, gateway: Any) -> None:
        """Plug into the router and the pipeline; start the background tasks."""
        self.catalog = catalog
        catalog.add_wrap(self.wrap)
        router.regions = self.regions
        self.fallbacks = FallbackChain(catalog, self.settings.timeouts)
        gateway.fallbacks = self.fallbacks
        if self.shared is not None:
            self.shared.start()
        if self.settings.health_checks is not None:
            self.checker = HealthChecker(catalog, self.http, self.settings.health_checks)
            self.checker.start()

    async def aclose(self) -> None:
        if self.checker is not None:
            await self.checker.aclose()
        if self.shared is not None:
            await self.shared.aclose()

    def deployments(self) -> list[Any]:
        if self.catalog is None:
            return []
        return self.catalog.deployments()

    def summary(self) -> dict[str, Any]:
        """Per deployment: available and breaker state (for ``/health/ready``)."""
        out = {}
        for d in self.deployments():
            breaker = d.health.breaker
            out[d.id] = {
                "available": d.health.available,
                "breaker": breaker.snapshot()["state"] if breaker is not None else "none",
            }
        return out

    def detail(self) -> dict[str, Any]:
        """Everything known about every deployment (for ``GET /admin/deployments``)."""
        deployments = [
            {"id": d.id, "alias": d.alias, "provider": d.provider_name, "model": d.upstream_model,
             "region": d.region, **d.health.snapshot()}
            for d in self.deployments()
        ]
        out: dict[str, Any] = {"deployments": deployments, "retry_budget": self.budget.snapshot(),
                               "breaker_sharing": "redis" if self.shared is not None else "memory"}
        if self.checker is not None:
            out["health_check_rounds"] = self.checker.rounds
        return out
