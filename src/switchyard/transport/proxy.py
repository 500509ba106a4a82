"""Egress through an HTTP proxy: which proxy an origin goes through, and the CONNECT tunnel.

An ``https://`` upstream is reached through a tunnel (``CONNECT host:port``, then
TLS end to end with the upstream); a plain ``http://`` one by sending the proxy
each request with the absolute URL as its target. Credentials in a proxy URL
become a ``Proxy-Authorization: Basic`` header and never appear in a label, a
repr or an error.

``Proxies.from_environ`` reads ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY``
(lower-case names win, as in curl) once, where the gateway is composed.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from switchyard.core.config.egress import proxy_url_problem
from switchyard.core.errors import UpstreamConnectError

# A proxy's answer to CONNECT is a status line and a few headers.
_MAX_CONNECT_HEAD = 16 * 1024


@dataclass(frozen=True, slots=True)
class ProxyURL:
    """An ``http://[user:password@]host[:port]`` proxy. ``label`` and ``repr`` carry no credentials."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, *, name: str = "proxy") -> ProxyURL:
        """Parse ``url``; a ``ValueError`` names ``name`` and the reason, never the URL (it may hold a password)."""
        problem = proxy_url_problem(url)
        if problem is not None:
            raise ValueError(f"{name}: {problem}")
        parts = urllib.parse.urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
        authorization = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return cls(host, port or 80, authorization)

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def header_lines(self) -> str:
        """The ``Proxy-Authorization`` line (CRLF-terminated) when the URL had credentials, else ``""``."""
        return f"Proxy-Authorization: {self.authorization}\r\n" if self.authorization else ""


@dataclass(frozen=True, slots=True)
class Proxies:
    """The proxy for each upstream scheme and the hosts that bypass them."""

    http: ProxyURL | None = None
    https: ProxyURL | None = None
    #: ``NO_PROXY`` entries: ``*``, a host and its subdomains (``example.com``, ``.example.com``),
    #: an address or network (``10.0.0.0/8``, ``::1``), each optionally with ``:port``.
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Proxies:
        """From ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` (or their lower-case names).
        A ``ValueError`` names the variable when its value is not a usable proxy URL."""

        def read(name: str) -> str:
            return environ.get(name.lower()) or environ.get(name) or ""

        found: dict[str, ProxyURL | None] = {}
        for scheme in ("http", "https"):
            name = f"{scheme}_proxy"
            value = read(name.upper())
            found[scheme] = ProxyURL.parse(value, name=name.upper()) if value else None
        no_proxy = tuple(e.strip().lower() for e in read("NO_PROXY").split(",") if e.strip())
        return cls(found["http"], found["https"], no_proxy)

    @classmethod
    def only(cls, proxy: ProxyURL) -> Proxies:
        """Every origin through ``proxy`` (a deployment's own ``proxy:``)."""
        return cls(proxy, proxy)

    def for_origin(self, scheme: str, host: str, port: int) -> ProxyURL | None:
        """The proxy to reach ``scheme://host:port`` through, or None to go direct."""
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or not self.no_proxy:
            return proxy
        host = host.lower().rstrip(".")
        return None if any(_matches(entry, host, port) for entry in self.no_proxy) else proxy


def _matches(entry: str, host: str, port: int) -> bool:
    """Whether one ``NO_PROXY`` entry covers ``host:port``."""
    if entry == "*":
        return True
    name, wanted = entry, None
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        wanted = rest[1:] if rest.startswith(":") else None
    elif entry.count(":") == 1:
        name, _, wanted = entry.partition(":")
    if wanted is not None and wanted != str(port):
        return False
    try:
        network = ipaddress.ip_network(name, strict=False)
    except ValueError:
        name = name.removeprefix("*").lstrip(".")
        return bool(name) and (host == name or host.endswith("." + name))
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:
        return False


async def open_tunnel(loop: asyncio.AbstractEventLoop, proxy: ProxyURL, host: str, port: int) -> socket.socket:
    """A connected socket to ``proxy`` that now carries bytes to ``host:port`` (its CONNECT
    answered 200). A refusal raises ``UpstreamConnectError`` with the proxy's status."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{proxy.header_lines()}\r\n".encode("latin-1")
    sock = await _connect(loop, proxy)
    try:
        await loop.sock_sendall(sock, request)
        head = b""
        while b"\r\n\r\n" not in head:
            data = await loop.sock_recv(sock, 4096)
            if not data:
                raise UpstreamConnectError(f"proxy {proxy.label} closed the connection before answering CONNECT {authority}")
            head += data
            if len(head) > _MAX_CONNECT_HEAD:
                raise UpstreamConnectError(f"proxy {proxy.label} sent an oversized answer to CONNECT {authority}")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not code.isdigit():
            raise UpstreamConnectError(f"proxy {proxy.label} answered CONNECT {authority} with no HTTP status line")
        if code != "200":
            why = {"407": "it wants credentials" if proxy.authorization is None else "it refused the credentials",
                   "403": "it forbids this destination"}.get(code, "")
            raise UpstreamConnectError(
                f"proxy {proxy.label} refused the tunnel to {authority}: {code} {reason.strip()[:80]}"
                + (f" ({why})" if why else "")
            )
        if not head.endswith(b"\r\n\r\n"):
            raise UpstreamConnectError(f"proxy {proxy.label} sent bytes after its answer to CONNECT {authority}")
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect(loop: asyncio.AbstractEventLoop, proxy: ProxyURL) -> socket.socket:
    """A non-blocking TCP socket connected to the proxy (each address in turn)."""
    infos = await loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM)
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error or OSError(f"no address for proxy {proxy.label}")
