"""HTTP GET of allowed hosts only, bounded in size and time.

A URL is fetched when its scheme is http or https, it carries no credentials, and its
host (``host``, or ``host:port`` for a port other than the scheme's) is on
``allow_hosts``. A redirect is followed (at most ``MAX_REDIRECTS``) only to an allowed
host too. A body larger than ``max_bytes`` is refused (by ``Content-Length``, else while
reading, never buffered past the limit); the whole fetch, redirects included, has
``timeout`` seconds. Proxies from the environment are not used.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

from switchyard.core.config.mcp import FetchService

MAX_REDIRECTS = 3
MAX_URL = 8192


class FetchRefused(ValueError):
    """The URL or the answer is refused; the message says which and why."""


class Fetcher:
    def __init__(self, config: FetchService) -> None:
        self.config = config
        self.allowed = frozenset(config.allow_hosts)

    def check(self, url: str) -> str:
        """``url`` when it may be fetched, else ``FetchRefused`` naming the reason."""
        if not isinstance(url, str) or not url:
            raise FetchRefused("url: must be a non-empty string")
        if len(url) > MAX_URL:
            raise FetchRefused(f"url: {len(url)} characters; the limit is {MAX_URL}")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchRefused(f"url: not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise FetchRefused(f"url: scheme {parts.scheme or '(none)'!r} is not allowed; only http and https")
        if parts.username is not None or parts.password is not None:
            raise FetchRefused("url: credentials in the URL are not allowed")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchRefused("url: has no host")
        default = 443 if parts.scheme == "https" else 80
        named = host if port in (None, default) else f"{host}:{port}"
        if named not in self.allowed and f"{host}:{port or default}" not in self.allowed:
            raise FetchRefused(f"url: host {named!r} is not on mcp.builtins.fetch.allow_hosts")
        return url

    async def get(self, url: str) -> dict[str, Any]:
        url = self.check(url)
        limit = self.config.max_bytes
        try:
            async with asyncio.timeout(self.config.timeout), httpx2.AsyncClient(
                    trust_env=False, follow_redirects=False, timeout=self.config.timeout) as client:
                for _ in range(MAX_REDIRECTS + 1):
                    async with client.stream("GET", url) as response:
                        if response.is_redirect and "location" in response.headers:
                            url = self.check(urljoin(url, response.headers["location"]))
                            continue
                        declared = response.headers.get("content-length")
                        if declared is not None and declared.isdigit() and int(declared) > limit:
                            raise FetchRefused(f"the body is {declared} bytes; the limit is {limit} "
                                               "(mcp.builtins.fetch.max_bytes)")
                        body = bytearray()
                        async for part in response.aiter_bytes():
                            body += part
                            if len(body) > limit:
                                raise FetchRefused(f"the body is over the limit of {limit} bytes "
                                                   "(mcp.builtins.fetch.max_bytes)")
                        return {"url": url, "status": response.status_code,
                                "content_type": response.headers.get("content-type", ""),
                                "text": bytes(body).decode(response.encoding or "utf-8", "replace")}
                raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            raise FetchRefused(f"no complete answer within {self.config.timeout:g} s "
                               "(mcp.builtins.fetch.timeout)") from None
        except httpx2.HTTPError as exc:
            raise FetchRefused(f"cannot fetch: {type(exc).__name__}") from None
