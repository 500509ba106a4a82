"""Opening one connection to an origin, the way its egress says: straight TCP, TLS
(verified, resumed, ALPN offered by the context), or through an HTTP proxy.

A pool owns one ``Dialer`` per origin and calls ``open`` for each new
connection, with the time it may take. Every failure
leaves as ``UpstreamConnectError`` with words a person can act on (the TLS
reason, the proxy's refusal, the socket's error), or ``UpstreamTimeout``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from switchyard.core.errors import UpstreamConnectError, UpstreamTimeout
from switchyard.transport.proxy import Proxies, ProxyURL, open_tunnel
from switchyard.transport.tls import ClientContext, TLSOptions, describe

P = TypeVar("P", bound=asyncio.Protocol)


@dataclass(frozen=True, slots=True)
class Egress:
    """How a client reaches its upstreams: the TLS trust, the proxies, and whether
    to offer HTTP/2. Hashable: clients are kept one per distinct egress."""

    tls: TLSOptions = TLSOptions()
    proxies: Proxies = Proxies()
    http2: bool = False


class Dialer:
    """Connections to ``scheme://host:port``; ``tls`` for https, ``proxy`` when one is in the way."""

    __slots__ = ("host", "port", "tls", "proxy", "label")

    def __init__(self, scheme: str, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 proxy: ProxyURL | None = None) -> None:
        if scheme == "https" and tls is None:
            raise ValueError("an https origin needs a TLS context")
        self.host = host
        self.port = port
        self.tls = tls if scheme == "https" else None
        self.proxy = proxy
        bracketed = f"[{host}]" if ":" in host else host
        self.label = f"{scheme}://{bracketed}:{port}" + (f" via proxy {proxy.label}" if proxy is not None else "")

    async def open(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], P], timeout: float) -> P:
        """A connected protocol from ``factory`` (its ``connection_made`` has run), within ``timeout`` seconds."""
        if timeout <= 0:
            raise UpstreamTimeout(f"timed out waiting to connect to {self.label}")
        try:
            async with asyncio.timeout(timeout):
                return await self._open(loop, factory)
        except TimeoutError:
            raise UpstreamTimeout(f"connecting to {self.label} timed out after {timeout:.3g}s") from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise UpstreamConnectError(f"cannot connect to {self.label}: {describe(exc)}") from None
        except OSError as exc:
            raise UpstreamConnectError(f"cannot connect to {self.label}: {exc}") from None

    async def _open(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], P]) -> P:
        context, proxy = self.tls, self.proxy
        if context is None:
            host, port = (self.host, self.port) if proxy is None else (proxy.host, proxy.port)
            _, protocol = await loop.create_connection(factory, host, port)
            return protocol
        if proxy is None:
            transport, protocol = await loop.create_connection(
                factory, self.host, self.port, ssl=context, server_hostname=self.host)
        else:
            sock = await open_tunnel(loop, proxy, self.host, self.port)
            try:
                transport, protocol = await loop.create_connection(
                    factory, sock=sock, ssl=context, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        if isinstance(context, ClientContext):
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None:
                context.remember(self.host, ssl_object)
        return protocol
