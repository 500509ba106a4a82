"""Everything the gateway owns for its lifetime, started and closed together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchyard.core.config import Config
from switchyard.core.registry import Registry
from switchyard.gateway.pipeline import Gateway
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

    @classmethod
    async def start(cls, config: Config, registry: Registry) -> Services:
        http = HttpClient()
        try:
            catalog = Catalog(config, registry, http)
        except BaseException:
            await http.aclose()
            raise
        router = Router()
        return cls(config=config, http=http, catalog=catalog, router=router, gateway=Gateway(catalog, router))

    def readiness(self) -> dict[str, Any]:
        """``/health/ready``: ok while the gateway can serve."""
        return {"status": "ok", "models": len(self.catalog.groups)}

    async def aclose(self) -> None:
        try:
            await self.catalog.aclose()
        finally:
            await self.http.aclose()
