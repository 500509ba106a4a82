"""The one shared upstream HTTP/1.1 client: asyncio Protocols, httptools, keep-alive pools.

Why hand-written: every gateway request pays this client's cost on the same core
as the server, JSON and auth. Measured on this machine (1 core, uvloop, loopback
mock upstream pinned to the other core, concurrency 64, ~400-byte chat
completion answers; ``python -m bench.transport``):

    aiohttp 3.14 ClientSession       ~ 15,800 req/s
    HttpClient (this module)         ~ 56,000 req/s   (the mock may be the limit here)

Through the whole gateway on one core (``python -m bench.run``), this client
under the lead's server: ~14,500 non-streaming req/s at c64, 0.19 ms added p50
at c1.

The whole request — pool checkout, one ``write``, parsing, pool return — is a
few dozen microseconds, with one future per exchange.

How a connection is opened — TLS (``tls.py``), through a proxy (``proxy.py``) —
is the ``Dialer``'s business (``dial.py``), once per connection; a request
through a proxy to a plain-http origin carries the absolute URL, decided once
per URL. HTTP/2 is ``http2.py``'s ``Http2Client``, opt-in per deployment.

Not done on purpose: redirects, cookies, and content decoding (we never send
``Accept-Encoding``; a body arrives as the upstream sent it).
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol

import httptools
import orjson

from switchyard.core.errors import UpstreamProtocolError
from switchyard.transport.connection import HttpConnection, StaleConnection
from switchyard.transport.dial import Dialer, Egress
from switchyard.transport.headers import Headers
from switchyard.transport.pool import OriginPool, WaitListener
from switchyard.transport.tls import client_context

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | None

_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_CACHE_SIZE = 512

#: Connections per origin: enough for thousands of concurrent streams, each of which
#: holds one for its whole length (HTTP/1.1).
DEFAULT_MAX_CONNECTIONS = 10_000
#: Seconds a request may wait for a free connection when all are busy.
DEFAULT_POOL_TIMEOUT = 5.0


class Response:
    """A complete upstream response."""

    __slots__ = ("status", "headers", "content")

    def __init__(self, status: int, headers: Headers, content: bytes) -> None:
        self.status = status
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        """The body parsed as JSON (orjson); raises ``orjson.JSONDecodeError``."""
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.content)} bytes>"


class BodySource(Protocol):
    """Where a ``StreamResponse`` reads from: an ``HttpConnection``, or an HTTP/2 stream."""

    body: list[bytes]
    buffered: int
    complete: bool
    exc: BaseException | None

    def next_body(self, idle_timeout: float | None) -> Awaitable[None]: ...


class StreamResponse:
    """An upstream response whose body is read as it arrives."""

    def __init__(self, status: int, headers: Headers, conn: BodySource) -> None:
        self.status = status
        self.headers = headers
        self._conn = conn
        self.stopped = False

    def stop_reading(self) -> None:
        """The reader has what it needs before the end of the body (the stream's last
        event came ahead of the chunked terminator): leaving the ``stream`` block then
        hands the connection back to be pooled once the rest arrives (read and
        dropped in the background, bounded: see ``pool.DRAIN_SECONDS``), not closed."""
        self.stopped = True

    async def aiter_bytes(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        """Body bytes as received (chunked framing removed).

        ``idle_timeout`` bounds the wait for each next piece; exceeding it raises
        ``UpstreamTimeout``. A peer closing mid-body raises ``UpstreamProtocolError``.
        """
        take, wait = self.take, self._conn.next_body
        while True:
            data = take()
            if data is None:
                return
            if data:
                yield data
            else:
                await wait(idle_timeout)

    def take(self) -> bytes | None:
        """The body bytes received since the last ``take``: ``b""`` when none yet (``await
        wait(...)`` for more), None once the body is complete; the connection's error raised.
        With ``wait``, what a reader on the hot path uses instead of ``aiter_bytes`` (one
        async generator less per read)."""
        conn = self._conn
        body = conn.body
        if body:
            conn.body = []
            conn.buffered = 0
            return body[0] if len(body) == 1 else b"".join(body)
        if conn.exc is not None:
            raise conn.exc
        if conn.complete:
            return None
        return b""

    def wait(self, idle_timeout: float | None = None) -> Awaitable[None]:
        """Resolves when ``take`` has more to give (or the end, or an error); ``idle_timeout``
        bounds the wait (``UpstreamTimeout``)."""
        return self._conn.next_body(idle_timeout)

    def listen(self, listener: Callable[[asyncio.Future[Any]], None]) -> HttpConnection | None:
        """Have ``listener`` called with the pending ``wait`` future, instead of its being
        resolved, as bytes, the end or an error arrive: a reader that decodes the bytes in the
        protocol callback itself (``HttpConnection.listen``). The connection when it takes
        listeners, else None (an HTTP/2 stream: wait and take)."""
        conn = self._conn
        if type(conn) is not HttpConnection:
            return None
        conn.listen(listener)
        return conn

    async def aread(self, idle_timeout: float | None = None) -> bytes:
        """The rest of the body at once."""
        return b"".join([chunk async for chunk in self.aiter_bytes(idle_timeout)])

    def json(self) -> Any:
        raise TypeError("read the body with `await resp.aread()` first")

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status}>"


class _Target:
    __slots__ = ("origin", "request_line", "host_header", "label")

    def __init__(self, origin: tuple[str, str, int], request_line: str, host_header: str, label: str):
        self.origin = origin
        #: The request line after the method (through a proxy: the absolute URL, and its header lines).
        self.request_line = request_line
        self.host_header = host_header
        self.label = label


class HttpClient:
    """A keep-alive HTTP/1.1 client with one bounded connection pool per origin.

    ``egress`` says how origins are reached: the TLS trust for ``https``, the
    proxies (see ``transport.proxy``); ``ssl_context`` replaces the context the
    egress would build.

    Waiting for a free pooled connection (when all ``max_connections_per_origin``
    are busy) is the gateway's own time, not the upstream's: it is bounded by
    ``pool_timeout`` (then ``ConnectionPoolFull``, a 503), and a call's
    ``timeout`` starts once a connection is in hand. ``timeout`` bounds
    connecting (also bounded by ``connect_timeout``, per call or the client's
    default), sending, and (for ``request``) reading the whole body; for
    ``stream`` it ends when the headers arrive and the body is bounded per piece
    by ``aiter_bytes(idle_timeout=...)``. ``total_timeout`` caps all of it, the
    wait included. A request that was sent on a reused connection which the
    server had already closed (no byte of an answer came back) is sent once more
    on a new connection.

    ``child(...)`` makes a client with pools of its own and other limits (one per
    deployment), closed with this one.
    """

    def __init__(
        self,
        *,
        max_connections_per_origin: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        connect_timeout: float = 10.0,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        egress: Egress | None = None,
    ) -> None:
        if max_connections_per_origin < 1:
            raise ValueError("max_connections_per_origin must be at least 1")
        if pool_timeout is not None and not pool_timeout > 0:
            raise ValueError("pool_timeout must be a positive number of seconds")
        self._max = max_connections_per_origin
        self._pool_timeout = pool_timeout
        self._connect_timeout = connect_timeout
        self._expiry = keepalive_expiry
        self.egress = egress if egress is not None else Egress()
        self._ssl = ssl_context
        self._pools: dict[tuple[str, str, int], OriginPool] = {}
        self._targets: dict[str, _Target] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._children: weakref.WeakSet[HttpClient] = weakref.WeakSet()
        #: A child's way to its parent's TLS context (one per egress: sessions resume across children).
        self._parent_tls: Callable[[], ssl.SSLContext] | None = None

    def child(self, *, max_connections_per_origin: int, pool_timeout: float | None) -> HttpClient:
        """A client with its own pools and these limits, and this one's other settings
        (connect timeout, keep-alive, egress); ``aclose`` on this client closes it too."""
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        child = HttpClient(max_connections_per_origin=max_connections_per_origin, pool_timeout=pool_timeout,
                           connect_timeout=self._connect_timeout, keepalive_expiry=self._expiry,
                           ssl_context=self._ssl, egress=self.egress)
        child._parent_tls = self._tls
        self._children.add(child)
        # A child dropped while its parent lives on (a wildcard deployment the catalog
        # evicted) closes its idle connections rather than leave them to the upstream.
        weakref.finalize(child, _close_pools, child._pools).atexit = False
        return child

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        body: bytes | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        total_timeout: float | None = None,
    ) -> Response:
        """Send one request and read the whole response. ``connect_timeout``
        bounds dialing a new connection (default: the client's); ``total_timeout``
        the whole call, a wait for a free connection included."""
        target = self._target(url)
        pool = self._pool(target.origin)
        loop = self._loop
        total = None if total_timeout is None else loop.time() + total_timeout  # type: ignore[union-attr]
        payload = _encode(method, target, headers, body)
        conn = await _exchange(loop, pool, target, method, payload, timeout, total, connect_timeout, None,  # type: ignore[arg-type]
                               streaming=False)
        body_parts = conn.body
        response = Response(
            conn.status,
            Headers(conn.raw_headers),
            body_parts[0] if len(body_parts) == 1 else b"".join(body_parts),
        )
        pool.release(conn)
        return response

    def stream(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        body: bytes | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        total_timeout: float | None = None,
        on_pool_wait: WaitListener | None = None,
    ) -> _StreamContext:
        """``async with client.stream(...) as resp:`` — read the body as it arrives.

        ``total_timeout`` bounds the whole exchange, body included (one timer,
        not one per read): when it passes, the read in progress or the next one
        raises ``UpstreamTimeout``. Leaving the block before the body ended
        closes the connection, unless the reader called ``resp.stop_reading()``;
        it is pooled again only after a complete body. ``on_pool_wait(True)`` and
        ``(False)`` bracket a wait for a free connection, if there is one.
        """
        return _StreamContext(self, method, url, headers, body, timeout, connect_timeout, total_timeout, on_pool_wait)

    async def aclose(self) -> None:
        """Close every pooled connection, this client's children's too; in-flight exchanges fail."""
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        for child in list(self._children):
            await child.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """Open and idle connection counts per origin (for metrics and tests): this
        client's pools and its children's (each deployment's own), added up."""
        stats: dict[str, dict[str, int]] = {}
        for client in (self, *self._children):
            for pool in client._pools.values():
                counts = stats.setdefault(pool.label, {"open": 0, "idle": 0})
                counts["open"] += pool.open_connections
                counts["idle"] += pool.idle_connections
        return stats

    def _tls(self) -> ssl.SSLContext:
        """This client's TLS context, made on first use."""
        if self._ssl is None:
            self._ssl = client_context(self.egress.tls)
        return self._ssl

    def _pool(self, origin: tuple[str, str, int]) -> OriginPool:
        pool = self._pools.get(origin)
        if pool is not None:
            return pool
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an HttpClient is bound to the event loop it was first used on")
        scheme, host, port = origin
        if scheme == "https" and self._ssl is None:
            self._ssl = self._parent_tls() if self._parent_tls is not None else self._tls()
        dialer = Dialer(scheme, host, port, tls=self._ssl, proxy=self.egress.proxies.for_origin(scheme, host, port))
        pool = self._pools[origin] = OriginPool(
            loop,
            dialer=dialer,
            max_connections=self._max,
            pool_timeout=self._pool_timeout,
            connect_timeout=self._connect_timeout,
            keepalive_expiry=self._expiry,
        )
        return pool

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is not None:
            return target
        url_parts = split_url(url)
        scheme, host, port = url_parts.origin
        request_line = f"{url_parts.path} HTTP/1.1\r\n"
        proxy = self.egress.proxies.for_origin(scheme, host, port) if scheme == "http" else None
        if proxy is not None:  # absolute-form, and the proxy's credentials on every request
            request_line = f"{scheme}://{url_parts.authority}{request_line}{proxy.header_lines()}"
        target = _Target(url_parts.origin, request_line, url_parts.authority, url_parts.label)
        if len(self._targets) >= _URL_CACHE_SIZE:
            self._targets.clear()
        self._targets[url] = target
        return target


class URLParts:
    """A URL as a request needs it: ``origin`` (scheme, host, port), the ``authority``
    (Host / :authority), the ``path`` with its query, and a ``label`` for messages."""

    __slots__ = ("origin", "authority", "path", "label")

    def __init__(self, origin: tuple[str, str, int], authority: str, path: str, label: str) -> None:
        self.origin = origin
        self.authority = authority
        self.path = path
        self.label = label


def split_url(url: str) -> URLParts:
    """Parse an ``http``/``https`` URL; ``ValueError`` when it is not one."""
    try:
        parsed = httptools.parse_url(url.encode())
    except httptools.HttpParserInvalidURLError:
        raise ValueError("invalid URL") from None
    scheme = (parsed.schema or b"").decode().lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {scheme!r}")
    host = parsed.host.decode("idna") if parsed.host else ""
    if not host:
        raise ValueError("URL has no host")
    port = parsed.port or _DEFAULT_PORTS[scheme]
    path = (parsed.path or b"/").decode()
    query = parsed.query.decode() if parsed.query else ""
    bracketed = f"[{host}]" if ":" in host else host
    return URLParts(
        (scheme, host, port),
        bracketed if port == _DEFAULT_PORTS[scheme] else f"{bracketed}:{port}",
        f"{path}?{query}" if query else path,
        # The query string can carry credentials (e.g. ?key=...): never in messages.
        f"{scheme}://{bracketed}:{port}{path}",
    )


class _StreamContext:
    def __init__(
        self,
        client: HttpClient,
        method: str,
        url: str,
        headers: HeaderInput,
        body: bytes | None,
        timeout: float | None,
        connect_timeout: float | None = None,
        total_timeout: float | None = None,
        on_pool_wait: WaitListener | None = None,
    ) -> None:
        self._client = client
        self._method = method
        self._url = url
        self._headers = headers
        self._body = body
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._total = total_timeout
        self._on_pool_wait = on_pool_wait
        self._total_handle: asyncio.TimerHandle | None = None
        self._pool: OriginPool | None = None
        self._conn: HttpConnection | None = None
        self._response: StreamResponse | None = None

    async def __aenter__(self) -> StreamResponse:
        client = self._client
        target = client._target(self._url)
        pool = self._pool = client._pool(target.origin)
        loop = client._loop
        started = loop.time()  # type: ignore[union-attr]
        total = None if self._total is None else started + self._total
        payload = _encode(self._method, target, self._headers, self._body)
        self._headers = self._body = None  # sent: not held for the length of the stream
        conn = await _exchange(loop, pool, target, self._method, payload, self._timeout, total,  # type: ignore[arg-type]
                               self._connect_timeout, self._on_pool_wait, streaming=True)
        self._conn = conn
        if total is not None:
            self._total_handle = loop.call_at(  # type: ignore[union-attr]
                total, conn.timeout,
                f"{self._method} {target.label}: the total deadline of {self._total:.3g}s passed mid-stream",
            )
        response = self._response = StreamResponse(conn.status, Headers(conn.raw_headers), conn)
        return response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release(exc_type is not None)

    def release(self, failed: bool = False) -> None:
        """``__aexit__`` without a coroutine: the connection back to the pool (pooled once the
        rest of a stopped body is read), or closed when the exchange ``failed`` or did not end."""
        conn, pool = self._conn, self._pool
        self._conn = None
        if self._total_handle is not None:
            self._total_handle.cancel()
            self._total_handle = None
        if conn is None or pool is None:
            return
        if conn.complete and conn.exc is None:
            pool.release(conn)
        elif not failed and self._response is not None and self._response.stopped:
            pool.drain(conn)
        else:
            pool.discard(conn)


async def _exchange(
    loop: asyncio.AbstractEventLoop,
    pool: OriginPool,
    target: _Target,
    method: str,
    payload: bytes,
    timeout: float | None,
    total: float | None,
    connect_timeout: float | None,
    on_pool_wait: WaitListener | None,
    *,
    streaming: bool,
) -> HttpConnection:
    """Send ``payload`` on a pooled connection and wait for the response head (the
    whole body unless ``streaming``). A wait for a free connection is bounded by the
    pool (and ``total``); ``timeout`` counts from when a connection is in hand, and
    ``total`` (an instant) caps everything. A reused connection the upstream had
    already closed is replaced once by a fresh one."""
    head = method == "HEAD"
    fresh = False
    deadline = total
    budget = 0.0
    started = False
    while True:
        conn = await pool.acquire(total, fresh=fresh, on_wait=on_pool_wait)
        if not started:  # the upstream's time starts now, once, whatever the wait was
            started = True
            now = loop.time()
            if timeout is not None and (total is None or now + timeout < total):
                deadline = now + timeout
            if deadline is not None:
                budget = deadline - now
        if conn is None:
            conn = await pool.dial(deadline, connect_timeout)
        try:
            fut = conn.send(payload, streaming=streaming, head=head)
            if deadline is None:
                await fut
            else:
                handle = loop.call_at(deadline, conn.timeout, _late(method, target, budget))
                try:
                    await fut
                finally:
                    handle.cancel()
        except StaleConnection:
            pool.discard(conn)
            if fresh:
                raise UpstreamProtocolError(f"{target.label} closed the connection without a response") from None
            fresh = True
            continue
        except BaseException:
            pool.discard(conn)
            raise
        return conn


def _close_pools(pools: dict[tuple[str, str, int], OriginPool]) -> None:
    for pool in pools.values():
        try:
            pool.close()
        except RuntimeError:  # the event loop is gone already
            pass


def _late(method: str, target: _Target, timeout: float) -> str:
    return f"{method} {target.label} timed out after {timeout:.3g}s"


def _encode(method: str, target: _Target, headers: HeaderInput, body: bytes | None) -> bytes:
    parts = [f"{method} {target.request_line}"]
    append = parts.append
    has_host = False
    if headers:
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                # Never echo the value: headers carry credentials.
                raise ValueError(f"header {name.strip()[:40]!r} contains a line break")
            lower = name.lower()
            if lower == "host":
                has_host = True
            elif lower == "content-length" or lower == "transfer-encoding":
                continue
            append(f"{name}: {value}\r\n")
    if not has_host:
        append(f"Host: {target.host_header}\r\n")
    if body is not None:
        append(f"Content-Length: {len(body)}\r\n\r\n")
        head = "".join(parts).encode("latin-1")
        return head + body if body else head
    append("\r\n")
    return "".join(parts).encode("latin-1")
