"""Every upstream HTTP client a gateway holds: one per distinct egress.

Most deployments share the default client (the top-level ``tls:``, the proxies
of the environment, HTTP/1.1); a deployment with its own ``tls:``, ``proxy:`` or
``http2: true`` gets the client of that egress, shared with every deployment
that says the same. Over HTTP/1.1 each deployment then sends through a child of
that client: the same egress, pools of its own (``connections``). The environment is read once, when ``from_config`` builds
the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchyard.core.config import Config, ConfigError, DeploymentConfig, TLSConfig
from switchyard.transport.client import HttpClient
from switchyard.transport.dial import Egress
from switchyard.transport.http2 import Http2Client
from switchyard.transport.proxy import Proxies, ProxyURL
from switchyard.transport.tls import TLSOptions


class Upstreams:
    """The clients by egress; ``http`` is the default one. Closed together."""

    def __init__(self, default: Egress | None = None, **client_options: Any) -> None:
        self.default = default if default is not None else Egress()
        self._options = client_options
        self.http = HttpClient(egress=self.default, **client_options)
        self._clients: dict[Egress, HttpClient | Http2Client] = {self.default: self.http}

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str], **client_options: Any) -> Upstreams:
        """The default egress from ``tls:`` and ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``.
        A proxy variable that is not a usable URL raises ``ConfigError`` naming it."""
        try:
            proxies = Proxies.from_environ(environ)
        except ValueError as exc:
            name, _, reason = str(exc).partition(": ")
            raise ConfigError([(name, reason)], "environment") from None
        return cls(Egress(_tls(config.tls), proxies), **client_options)

    def egress_for(self, deployment: DeploymentConfig) -> Egress:
        """The default egress with what ``deployment`` sets itself (``tls``, ``proxy``, ``http2``)."""
        default = self.default
        proxies = default.proxies
        if deployment.proxy is not None:
            proxies = Proxies.only(ProxyURL.parse(deployment.proxy.get_secret_value()))
        tls = _tls(deployment.tls) if deployment.tls is not None else default.tls
        return Egress(tls, proxies, deployment.http2)

    def for_deployment(self, deployment: DeploymentConfig) -> HttpClient | Http2Client:
        """The client ``deployment`` sends through: over HTTP/1.1, a child of its egress's
        client with pools of the deployment's own (``connections``: size, wait)."""
        client = self.client(self.egress_for(deployment))
        if isinstance(client, HttpClient):
            limits = deployment.connections
            return client.child(max_connections_per_origin=limits.max, pool_timeout=limits.wait)
        return client

    def client(self, egress: Egress) -> HttpClient | Http2Client:
        """The client of ``egress`` (made on first use; as many as distinct settings in the config)."""
        client = self._clients.get(egress)
        if client is None:
            make = Http2Client if egress.http2 else HttpClient
            client = self._clients[egress] = make(egress=egress, **self._options)
        return client

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """Every client's pools, by origin (and proxy)."""
        stats: dict[str, dict[str, int]] = {}
        for client in self._clients.values():
            for origin, counts in client.pool_stats().items():
                merged = stats.setdefault(origin, {})
                for name, count in counts.items():
                    merged[name] = merged.get(name, 0) + count
        return stats

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


def _tls(config: TLSConfig) -> TLSOptions:
    return TLSOptions(config.ca_file, config.verify)
