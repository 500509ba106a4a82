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
from switchyard.storage import Store, open_store
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
    #: The store replicas share (``redis:``), or an in-process one; see ``switchyard.storage``.
    store: Store | None = None
    #: The durable store (``storage.url``; ``memory://`` by default). Opened lazily.
    durable: Store | None = None

    @classmethod
    async def start(cls, config: Config, registry: Registry) -> Services:
        """Build everything in dependency order; on failure, close what was opened."""
        http = HttpClient()
        store = durable = None
        try:
            store = _open_shared(config)
            durable = open_store(config.storage.url, field="storage.url",
                                 prefix=config.redis.prefix if config.redis is not None else "switchyard:")
            shared = store if config.redis is not None else None
            tokens = TokenCounter()
            admission = AdmissionControl.build(config, store, tokens)
            catalog = Catalog(config, registry, http, wrap=admission.wrap)
            router = Router(config.routing, tokens=tokens, kv=shared.kv if shared is not None else None,
                            resolve=catalog.resolve)
            gateway = Gateway(catalog, router, admission.admission)
            reliability = Reliability(config, http, shared)
            reliability.start(catalog, router, gateway)  # wraps the deployments, starts health checks
        except BaseException:
            await http.aclose()
            for opened in (store, durable):
                if opened is not None:
                    await opened.aclose()
            raise
        return cls(config=config, http=http, catalog=catalog, router=router, gateway=gateway, tokens=tokens,
                   reliability=reliability, admission=admission, store=store, durable=durable)

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
            for opened in (self.store, self.durable):
                if opened is not None:
                    await opened.aclose()


def _open_shared(config: Config) -> Store:
    """The store replicas share (``redis:``), else one in this process; no I/O until used."""
    redis = config.redis
    if redis is None:
        return open_store("memory://")
    return open_store(redis.url, prefix=redis.prefix, field="redis.url",
                      connect_timeout=redis.connect_timeout, operation_timeout=redis.operation_timeout)
