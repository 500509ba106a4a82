"""The composition root: everything a gateway owns for its lifetime, built in
one place, in dependency order, each object complete when constructed.

::

    config -> http client, Redis, token counter, authenticator
           -> admission (limits backend, queue, capacity gates)
           -> retry budget, shared breakers -> deployment factory -> catalog
           -> router (rules, stickiness, regions) -> request stages -> pipeline
           -> background tasks (health probes, breaker sync), started last

``Services.start`` builds and starts; ``aclose`` stops the tasks and closes
what was opened, in reverse. The HTTP server and the in-process ``Client`` are
both consumers of one ``Services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchyard.admission import AdmissionControl
from switchyard.core.config import Config
from switchyard.core.registry import Registry, StageRegistry
from switchyard.core.tokens import TokenCounter
from switchyard.auth import Authenticator
from switchyard.pipeline import Pipeline, order
from switchyard.pipeline.deployments import DeploymentFactory
from switchyard.pipeline.stages.route import Route
from switchyard.policies.retry import RetryBudget
from switchyard.routing.catalog import Catalog
from switchyard.routing.regions import RegionPreference
from switchyard.routing.router import Router
from switchyard.tasks.breaker_sync import SharedBreakers
from switchyard.tasks.health_probes import HealthChecker
from switchyard.transport.client import HttpClient


@dataclass(eq=False)
class Services:
    """The gateway's state: the upstream HTTP client, the catalog, the pipeline."""

    config: Config
    http: HttpClient
    auth: Authenticator
    tokens: TokenCounter
    #: Limits, queue and upstream capacity (``limits:``); see ``switchyard.admission``.
    admission: AdmissionControl
    catalog: Catalog
    router: Router
    pipeline: Pipeline
    budget: RetryBudget
    #: Breaker state shared through Redis, when ``redis`` is configured.
    shared_breakers: SharedBreakers | None = None
    #: Active health probes, when ``reliability.health_checks`` is configured.
    checker: HealthChecker | None = None
    #: The shared Redis client (redis.asyncio), when ``redis`` is configured.
    redis: Any = None

    @classmethod
    async def start(cls, config: Config, registry: Registry, stages: StageRegistry | None = None) -> Services:
        """Build everything in dependency order, then start the background tasks;
        on failure, close what was opened."""
        http = HttpClient()
        redis = None
        try:
            redis = _open_redis(config)
            prefix = config.redis.prefix if config.redis is not None else "switchyard:"
            tokens = TokenCounter()
            auth = Authenticator(config.auth)
            admission = AdmissionControl.build(config, redis, tokens)
            settings = config.reliability
            budget = RetryBudget.from_config(settings.retry)
            shared = (SharedBreakers(redis, prefix, settings.breaker.sync_interval)
                      if redis is not None and settings.breaker.enabled else None)
            factory = DeploymentFactory(registry, http, settings, budget, latency_decay=config.routing.latency.decay,
                                        gate_for=admission.gate_for,
                                        on_breaker=shared.add if shared is not None else None)
            catalog = Catalog(config, registry, factory)
            router = Router(config.routing, tokens=tokens, redis=redis, redis_prefix=prefix,
                            resolve=catalog.resolve, regions=RegionPreference.from_config(config))
            pipeline = Pipeline(
                order.stages(auth=auth, catalog=catalog, router=router, admission=admission.admission,
                             plugins=config.pipeline, registry=stages),
                Route(catalog, router),
                settings.timeouts,
            )
            checker = (HealthChecker(catalog, http, settings.health_checks)
                       if settings.health_checks is not None else None)
        except BaseException:
            await http.aclose()
            if redis is not None:
                await redis.aclose()
            raise
        services = cls(config=config, http=http, auth=auth, tokens=tokens, admission=admission, catalog=catalog,
                       router=router, pipeline=pipeline, budget=budget, shared_breakers=shared, checker=checker,
                       redis=redis)
        if shared is not None:
            shared.start()
        if checker is not None:
            checker.start()
        return services

    def readiness(self) -> dict[str, Any]:
        """``/health/ready``: ok while the gateway can serve, with the admission
        backend's state and each deployment's availability and breaker state."""
        report: dict[str, Any] = {"status": "ok", "models": len(self.config.models)}
        report["admission"] = self.admission.status()
        if not self.admission.ready:
            report["status"] = "degraded"
        report["deployments"] = {
            d.id: {"available": d.health.available,
                   "breaker": d.health.breaker.snapshot()["state"] if d.health.breaker is not None else "none"}
            for d in self.catalog.deployments()
        }
        return report

    def deployments_detail(self) -> dict[str, Any]:
        """Everything known about every deployment (for ``GET /admin/deployments``)."""
        deployments = [
            {"id": d.id, "alias": d.alias, "provider": d.provider_name, "model": d.upstream_model,
             "region": d.region, **d.health.snapshot()}
            for d in self.catalog.deployments()
        ]
        out: dict[str, Any] = {"deployments": deployments, "retry_budget": self.budget.snapshot(),
                               "breaker_sharing": "redis" if self.shared_breakers is not None else "memory"}
        if self.checker is not None:
            out["health_check_rounds"] = self.checker.rounds
        return out

    async def aclose(self) -> None:
        try:
            if self.checker is not None:
                await self.checker.aclose()
            if self.shared_breakers is not None:
                await self.shared_breakers.aclose()
            await self.admission.aclose()
            await self.catalog.aclose()
        finally:
            await self.http.aclose()
            if self.redis is not None:
                await self.redis.aclose()


def _open_redis(config: Config) -> Any:
    """The shared Redis client for ``redis:``, or None (connections open lazily)."""
    if config.redis is None:
        return None
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(
        config.redis.url.get_secret_value(),
        socket_connect_timeout=config.redis.connect_timeout,
        socket_timeout=config.redis.operation_timeout,
    )
