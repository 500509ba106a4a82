"""Everything the gateway owns for its lifetime, started and closed together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from switchyard.admission import AdmissionControl
from switchyard.core.config import Config
from switchyard.core.registry import Registry
from switchyard.core.tokens import TokenCounter
from switchyard.gateway.pipeline import Gateway
from switchyard.policies.reliability import Reliability
from switchyard.routing.catalog import Catalog
from switchyard.routing.router import Router
from switchyard.transport.client import HttpClient


@dataclass(eq=False)
class Services:
    """The app's state: the one upstream HTTP client, the catalog, the pipeline."""

    config: Config
    http: HttpClient
    catalog: Catalog
    router: Router
    gateway: Gateway
    #: The shared Redis client (redis.asyncio), when ``redis`` is configured.
    redis: Any = None
    tokens: TokenCounter = field(default_factory=TokenCounter)
    #: Retries, breakers, timeouts, fallbacks, health checks, regions (``policies/``);
    #: built in ``__post_init__`` and wrapped around every deployment of the catalog.
    reliability: Any = None
    #: Limits, queue and upstream capacity (``limits:``); see ``switchyard.admission``.
    admission: Any = None

    @classmethod
    async def start(cls, config: Config, registry: Registry) -> Services:
        http = HttpClient()
        redis = None
        tokens = TokenCounter()
        try:
            if config.redis is not None:
                import redis.asyncio as aioredis

                redis = aioredis.Redis.from_url(
                    config.redis.url.get_secret_value(),
                    socket_connect_timeout=config.redis.connect_timeout,
                    socket_timeout=config.redis.operation_timeout,
                )
            admission = AdmissionControl.build(config, redis, tokens)
            catalog = Catalog(config, registry, http, wrap=admission.wrap)
        except BaseException:
            await http.aclose()
            if redis is not None:
                await redis.aclose()
            raise
        router = Router(config.routing, tokens=tokens, redis=redis, resolve=catalog.resolve,
                        redis_prefix=config.redis.prefix if config.redis is not None else "switchyard:")
        return cls(config=config, http=http, catalog=catalog, router=router, gateway=Gateway(catalog, router, admission.admission),
                   redis=redis, tokens=tokens, admission=admission)

    def __post_init__(self) -> None:
        if self.reliability is None:
            self.reliability = Reliability(self.config, self.http, self.redis)
        self.reliability.start(self.catalog, self.router, self.gateway)

    def readiness(self) -> dict[str, Any]:
        """``/health/ready``, with each deployment's availability and breaker state."""
        report = self._readiness()
        report["deployments"] = self.reliability.summary()
        return report

    def _readiness(self) -> dict[str, Any]:
        """``/health/ready``: ok while the gateway can serve."""
        report: dict[str, Any] = {"status": "ok", "models": len(self.config.models)}
        if self.admission is not None:
            report["admission"] = self.admission.status()
            if not self.admission.ready:
                report["status"] = "degraded"
        return report

    async def aclose(self) -> None:
        try:
            await self.reliability.aclose()
            await self.catalog.aclose()
        finally:
            await self.http.aclose()
            if self.redis is not None:
                await self.redis.aclose()
