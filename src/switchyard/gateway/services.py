"""Everything the gateway owns for its lifetime, started and closed together."""

from __future__ import annotations

from dataclasses import dataclass
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
    tokens: TokenCounter
    #: Retries, breakers, timeouts, fallbacks, health checks, regions (``policies/``).
    reliability: Reliability
    #: Limits, queue and upstream capacity (``limits:``); see ``switchyard.admission``.
    admission: AdmissionControl
    #: The shared Redis client (redis.asyncio), when ``redis`` is configured.
    redis: Any = None

    @classmethod
    async def start(cls, config: Config, registry: Registry) -> Services:
        """Build everything in dependency order; on failure, close what was opened."""
        http = HttpClient()
        redis = None
        try:
            redis = _open_redis(config)
            tokens = TokenCounter()
            admission = AdmissionControl.build(config, redis, tokens)
            catalog = Catalog(config, registry, http, wrap=admission.wrap)
            router = Router(config.routing, tokens=tokens, redis=redis, resolve=catalog.resolve,
                            redis_prefix=config.redis.prefix if config.redis is not None else "switchyard:")
            gateway = Gateway(catalog, router, admission.admission)
            reliability = Reliability(config, http, redis)
            reliability.start(catalog, router, gateway)  # wraps the deployments, starts health checks
        except BaseException:
            await http.aclose()
            if redis is not None:
                await redis.aclose()
            raise
        return cls(config=config, http=http, catalog=catalog, router=router, gateway=gateway, tokens=tokens,
                   reliability=reliability, admission=admission, redis=redis)

    def readiness(self) -> dict[str, Any]:
        """``/health/ready``: ok while the gateway can serve, with the admission
        backend's state and each deployment's availability and breaker state."""
        report: dict[str, Any] = {"status": "ok", "models": len(self.config.models)}
        report["admission"] = self.admission.status()
        if not self.admission.ready:
            report["status"] = "degraded"
        report["deployments"] = self.reliability.summary()
        return report

    async def aclose(self) -> None:
        try:
            await self.reliability.aclose()
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
