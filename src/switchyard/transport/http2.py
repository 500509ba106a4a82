"""HTTP/2 to upstreams (a deployment's ``http2: true``): many exchanges at once on one
TLS connection, offered by ALPN.

``h2`` (sans-IO) does the framing, HPACK and flow control; this module drives it
from an asyncio Protocol, as ``connection.py`` drives httptools. An exchange is
an ``Http2Stream``, which reads like an ``HttpConnection`` (``status``,
``raw_headers``, ``body``, ``complete``, ``exc``, ``next_body``), so the
``Response`` and ``StreamResponse`` of the HTTP/1.1 client serve both.

``Http2Client`` has ``HttpClient``'s ``request``/``stream`` and timeouts. An
origin whose server declines h2 in the handshake, and every plain ``http://``
one, is served by its HTTP/1.1 client from then on. A stream the server refused
unprocessed (``REFUSED_STREAM``, or above a ``GOAWAY``'s last stream) is sent
once more on a new connection. A streaming reader that falls behind stops
handing window back, so the upstream, not our memory, holds the backlog.

Measured against the HTTP/1.1 pool in ``bench/transport.py``: see the README's
Performance section for why HTTP/1.1 stays the default.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from switchyard.core.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from switchyard.transport.client import HeaderInput, HttpClient, Response, StreamResponse, URLParts, split_url
from switchyard.transport.dial import Dialer, Egress
from switchyard.transport.headers import Headers
from switchyard.transport.pool import WaitListener
from switchyard.transport.tls import client_context

_WINDOW = 1 << 20            # per-stream receive window we announce
_CONNECTION_WINDOW = 1 << 24  # the whole connection's
_MAX_STREAMS = 256           # per connection, whatever the server allows
_URL_CACHE_SIZE = 512
# Hop-by-hop headers HTTP/2 forbids; Host becomes :authority, the length is ours.
_DROPPED = frozenset({"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
                      "te", "content-length"})


class _Refused(Exception):
    """The server did not process the stream (REFUSED_STREAM, or above a GOAWAY's last stream)."""


class Http2Stream:
    """One exchange on an HTTP/2 connection, read as an ``HttpConnection`` is."""

    __slots__ = ("conn", "stream_id", "streaming", "status", "raw_headers", "body", "buffered", "complete",
                 "exc", "_fut", "_waiter", "_unacked", "_pending")

    def __init__(self, conn: Http2Connection, stream_id: int, streaming: bool) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.streaming = streaming
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.exc: BaseException | None = None
        self._fut: asyncio.Future[None] = conn.loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self._unacked = 0  # received bytes not yet handed back as window (streams: until read)
        self._pending: deque[tuple[bytes, bool]] = deque()  # request body waiting for window

    async def next_body(self, idle_timeout: float | None) -> None:
        """Wait until more body, the end, or an error is available (handing back window for what was read)."""
        if self._unacked:
            self.conn.ack(self)
        waiter = self._waiter = self.conn.loop.create_future()
        if idle_timeout is None:
            await waiter
            return
        handle = self.conn.loop.call_later(
            idle_timeout, self.timeout, f"no data from {self.conn.label} for {idle_timeout:g}s")
        try:
            await waiter
        finally:
            handle.cancel()

    def timeout(self, message: str) -> None:
        """Timer callback: the exchange took too long; the stream is reset, the connection stays."""
        if not self.complete and self.exc is None:
            self.fail(UpstreamTimeout(message))
            self.conn.cancel(self)

    def fail(self, exc: BaseException) -> None:
        if self.exc is None:
            self.exc = exc
        if not self._fut.done():
            self._fut.set_exception(exc)
            self._fut.exception()  # retrieved: nobody may be awaiting it any more
        self._wake()

    def _headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        raw = self.raw_headers
        for name, value in headers:
            if name[:1] == b":":
                if name == b":status":
                    self.status = int(value)
            else:
                raw.append((name, value))
        if self.streaming and not self._fut.done():
            self._fut.set_result(None)

    def _end(self) -> None:
        self.complete = True
        if not self._fut.done():
            self._fut.set_result(None)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Http2Connection(asyncio.Protocol):
    """One HTTP/2 connection: its h2 state machine and the streams open on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, label: str, pool: Http2Pool) -> None:
        self.loop = loop
        self.label = label
        self._pool = pool
        self._h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_inbound_headers=False, normalize_inbound_headers=False,
            validate_outbound_headers=False, normalize_outbound_headers=False))
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, Http2Stream] = {}
        self.declined = False  # ALPN chose HTTP/1.1
        self.closed = False
        self.draining = False  # GOAWAY received or sent: no new streams
        self.idle_since = loop.time()

    @property
    def capacity(self) -> int:
        return min(self._h2.remote_settings.max_concurrent_streams, _MAX_STREAMS)

    @property
    def usable(self) -> bool:
        return not (self.closed or self.draining or self.declined)

    def open(self, method: str, authority: str, path: str, headers: HeaderInput, body: bytes | None,
             *, streaming: bool) -> Http2Stream:
        """Send a request on a new stream; its future resolves at the headers (streaming) or at the end."""
        conn = self._h2
        try:
            stream_id = conn.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            self.draining = True  # every stream id used: the next request goes to a new connection
            raise _Refused() from None
        fields = [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)]
        if headers:
            for name, value in headers.items() if isinstance(headers, Mapping) else headers:
                if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                    raise ValueError(f"header {name.strip()[:40]!r} contains a line break")
                lower = name.lower()
                if lower not in _DROPPED:
                    fields.append((lower, value))
        if body is not None:
            fields.append(("content-length", str(len(body))))
        try:
            conn.send_headers(stream_id, fields, end_stream=not body)
        except h2.exceptions.TooManyStreamsError:
            raise _Refused() from None  # the server lowered its limit meanwhile
        stream = self.streams[stream_id] = Http2Stream(self, stream_id, streaming)
        if body:
            self._send(stream, body, True)
        self._flush()
        return stream

    def ack(self, stream: Http2Stream) -> None:
        """Hand back the window of what ``stream``'s reader has taken."""
        size, stream._unacked = stream._unacked, 0
        self._h2.acknowledge_received_data(size, stream.stream_id)
        self._flush()

    def cancel(self, stream: Http2Stream) -> None:
        """Stop ``stream`` (reset it unless it ended); its slot is free again."""
        if self.streams.pop(stream.stream_id, None) is None:
            return
        if not self.closed:
            try:
                self._h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
            except h2.exceptions.StreamClosedError:
                pass
            if stream._unacked:
                self.ack(stream)
            self._flush()
        self._freed()

    def release(self, stream: Http2Stream) -> None:
        """The exchange is over: hand back what is left of its window."""
        if stream._unacked and not self.closed:
            self.ack(stream)
        if self.streams.pop(stream.stream_id, None) is not None:
            self._freed()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            self.declined = True
            return
        conn = self._h2
        conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
        })
        conn.initiate_connection()
        conn.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._flush()
            self._abort(UpstreamProtocolError(f"HTTP/2 protocol error from {self.label}: {exc}"))
            return
        streams = self.streams
        for event in events:
            kind = type(event)
            if kind is h2.events.DataReceived:
                stream = streams.get(event.stream_id)  # type: ignore[attr-defined]
                if stream is None:
                    self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)  # type: ignore[attr-defined]
                    continue
                stream.body.append(event.data)  # type: ignore[attr-defined]
                stream._unacked += event.flow_controlled_length  # type: ignore[attr-defined]
                if stream.streaming:
                    stream.buffered += len(event.data)  # type: ignore[attr-defined]
                    stream._wake()
                else:
                    self._h2.acknowledge_received_data(stream._unacked, stream.stream_id)
                    stream._unacked = 0
            elif kind is h2.events.ResponseReceived:
                stream = streams.get(event.stream_id)  # type: ignore[attr-defined]
                if stream is not None:
                    stream._headers(event.headers)  # type: ignore[attr-defined]
            elif kind is h2.events.StreamEnded:
                stream = streams.get(event.stream_id)  # type: ignore[attr-defined]
                if stream is not None:
                    stream._end()
            elif kind is h2.events.StreamReset:
                stream = streams.pop(event.stream_id, None)  # type: ignore[attr-defined]
                if stream is not None:
                    code = event.error_code  # type: ignore[attr-defined]
                    if code == h2.errors.ErrorCodes.REFUSED_STREAM and not stream.status:
                        stream.fail(_Refused())
                    else:
                        name = getattr(code, "name", code)
                        stream.fail(UpstreamProtocolError(f"{self.label} reset the stream ({name})"))
                    self._freed()
            elif kind is h2.events.WindowUpdated:
                self._unblock()
            elif kind is h2.events.ConnectionTerminated:
                self._goaway(event.last_stream_id)  # type: ignore[attr-defined]
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            if stream.complete:
                continue
            if not stream.status:
                stream.fail(UpstreamProtocolError(f"{self.label} closed the connection without a response"))
            else:
                stream.fail(UpstreamProtocolError(f"{self.label} closed the connection mid-response"))
        self._pool.lost(self)

    # -- internals -------------------------------------------------------------

    def _send(self, stream: Http2Stream, data: bytes, end: bool) -> None:
        if stream._pending:
            stream._pending.append((data, end))
            return
        rest = self._push(stream.stream_id, data, end)
        if rest is not None:
            stream._pending.append((rest, end))

    def _push(self, stream_id: int, data: bytes, end: bool) -> bytes | None:
        """Send what the flow-control windows allow; the rest is returned."""
        conn = self._h2
        while True:
            window = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if len(data) <= window:
                conn.send_data(stream_id, data, end_stream=end)
                return None
            if window <= 0:
                return data
            conn.send_data(stream_id, data[:window])
            data = data[window:]

    def _unblock(self) -> None:
        for stream in list(self.streams.values()):
            pending = stream._pending
            try:
                while pending:
                    data, end = pending[0]
                    rest = self._push(stream.stream_id, data, end)
                    if rest is not None:
                        pending[0] = (rest, end)
                        break
                    pending.popleft()
            except h2.exceptions.StreamClosedError:
                pending.clear()

    def _goaway(self, last_stream_id: int | None) -> None:
        self.draining = True
        last = last_stream_id if last_stream_id is not None else 0
        for stream_id in [s for s in self.streams if s > last]:
            self.streams.pop(stream_id).fail(_Refused())
        if not self.streams:
            self.close()
        self._pool.lost(self)

    def _freed(self) -> None:
        if not self.streams:
            self.idle_since = self.loop.time()
            if self.draining:
                self.close()
        self._pool.wake()

    def _abort(self, exc: BaseException) -> None:
        for stream in list(self.streams.values()):
            stream.fail(exc)
        self.close()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


class Http2Pool:
    """HTTP/2 connections to one origin, each carrying up to the server's
    ``MAX_CONCURRENT_STREAMS`` (at most 256) exchanges: a new connection only
    when every one is full, at most ``max_connections``; then exchanges wait."""

    def __init__(self, loop: asyncio.AbstractEventLoop, dialer: Dialer, *, max_connections: int,
                 connect_timeout: float, keepalive_expiry: float) -> None:
        self._loop = loop
        self._dialer = dialer
        self.label = dialer.label
        self._max = max_connections
        self._connect_timeout = connect_timeout
        self._expiry = keepalive_expiry
        self._conns: list[Http2Connection] = []
        self._dialing: asyncio.Future[None] | None = None
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.declined = False  # the server speaks HTTP/1.1 only: its client takes over
        self._closed = False

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    @property
    def open_streams(self) -> int:
        return sum(len(c.streams) for c in self._conns)

    async def acquire(self, deadline: float | None, connect_timeout: float | None) -> Http2Connection | None:
        """A connection with a free stream slot; None when the server declined HTTP/2."""
        while True:
            if self._closed:
                raise RuntimeError("the HTTP client is closed")
            if self.declined:
                return None
            now = self._loop.time()
            for conn in self._conns:
                if conn.usable and len(conn.streams) < conn.capacity:
                    if not conn.streams and now - conn.idle_since > self._expiry:
                        conn.draining = True
                        conn.close()
                        continue
                    return conn
            if self._dialing is not None:
                await self._wait(asyncio.shield(self._dialing), deadline)  # shared: never cancelled by one
            elif len(self._conns) < self._max:
                await self._dial(deadline, connect_timeout)
            else:
                waiter = self._loop.create_future()
                self._waiters.append(waiter)
                try:
                    await self._wait(waiter, deadline)
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        self.wake()  # a wake this exchange will not use goes to the next in line
                    raise

    def wake(self) -> None:
        """A stream slot came free."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def lost(self, conn: Http2Connection) -> None:
        """``conn`` takes no new streams any more."""
        if conn.closed and conn in self._conns:
            self._conns.remove(conn)
        self.wake()

    def close(self) -> None:
        self._closed = True
        for conn in self._conns:
            conn._abort(UpstreamConnectError(f"the HTTP client was closed during a request to {self.label}"))
        self._conns.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("the HTTP client is closed"))

    async def _dial(self, deadline: float | None, connect_timeout: float | None) -> None:
        dialing = self._dialing = self._loop.create_future()
        try:
            timeout = connect_timeout or self._connect_timeout
            if deadline is not None:
                timeout = min(timeout, deadline - self._loop.time())
            conn = await self._dialer.open(self._loop, lambda: Http2Connection(self._loop, self.label, self), timeout)
            if conn.declined:
                conn.close()
                self.declined = True
            else:
                self._conns.append(conn)
        finally:
            self._dialing = None
            if not dialing.done():
                dialing.set_result(None)
            # Whoever waited for this dial looks again (and may dial itself if it failed).
            for waiter in list(self._waiters):
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    async def _wait(self, fut: asyncio.Future[None], deadline: float | None) -> None:
        if deadline is None:
            await fut
            return
        remaining = deadline - self._loop.time()
        if remaining <= 0:
            fut.cancel()
            raise UpstreamTimeout(f"timed out waiting for a free stream to {self.label}")
        try:
            async with asyncio.timeout(remaining):
                await fut
        except TimeoutError:
            raise UpstreamTimeout(f"timed out waiting for a free stream to {self.label}") from None


class Http2Client:
    """``HttpClient``'s interface over HTTP/2 for ``https`` origins that accept it;
    everything else goes through the HTTP/1.1 client of the same egress."""

    def __init__(self, *, max_connections_per_origin: int = 256, connect_timeout: float = 10.0,
                 keepalive_expiry: float = 30.0, egress: Egress | None = None) -> None:
        self.egress = egress if egress is not None else Egress(http2=True)
        self._max = max_connections_per_origin
        self._connect_timeout = connect_timeout
        self._expiry = keepalive_expiry
        self._ssl: ssl.SSLContext | None = None
        self.http1 = HttpClient(max_connections_per_origin=max_connections_per_origin,
                                connect_timeout=connect_timeout, keepalive_expiry=keepalive_expiry, egress=self.egress)
        self._pools: dict[tuple[str, str, int], Http2Pool] = {}
        self._targets: dict[str, URLParts | None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def request(self, method: str, url: str, *, headers: HeaderInput = None, body: bytes | None = None,
                      timeout: float | None = None, connect_timeout: float | None = None,
                      total_timeout: float | None = None) -> Response:
        """As ``HttpClient.request``."""
        target = self._target(url)
        pool = self._pool(target) if target is not None else None
        if pool is None or pool.declined:
            return await self.http1.request(method, url, headers=headers, body=body, timeout=timeout,
                                            connect_timeout=connect_timeout, total_timeout=total_timeout)
        loop = self._loop
        if total_timeout is not None and (timeout is None or total_timeout < timeout):
            timeout = total_timeout
        deadline = None if timeout is None else loop.time() + timeout  # type: ignore[union-attr]
        stream = await self._exchange(pool, target, method, headers, body, deadline, timeout,  # type: ignore[arg-type]
                                      connect_timeout, streaming=False)
        if stream is None:  # declined while dialing
            return await self.http1.request(method, url, headers=headers, body=body, timeout=timeout,
                                            connect_timeout=connect_timeout, total_timeout=total_timeout)
        body_parts = stream.body
        response = Response(stream.status, Headers(stream.raw_headers),
                            body_parts[0] if len(body_parts) == 1 else b"".join(body_parts))
        stream.conn.release(stream)
        return response

    def stream(self, method: str, url: str, *, headers: HeaderInput = None, body: bytes | None = None,
               timeout: float | None = None, connect_timeout: float | None = None,
               total_timeout: float | None = None, on_pool_wait: WaitListener | None = None) -> _StreamContext:
        """As ``HttpClient.stream``; ``on_pool_wait`` hears the HTTP/1.1 fallback's waits."""
        return _StreamContext(self, method, url, headers, body, timeout, connect_timeout, total_timeout, on_pool_wait)

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await self.http1.aclose()

    async def __aenter__(self) -> Http2Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """Per origin: connections and streams open (HTTP/2), and the HTTP/1.1 client's pools."""
        stats = {pool.label: {"open": pool.open_connections, "streams": pool.open_streams}
                 for pool in self._pools.values() if not pool.declined}
        stats.update(self.http1.pool_stats())
        return stats

    async def _exchange(self, pool: Http2Pool, target: URLParts, method: str, headers: HeaderInput,
                        body: bytes | None, deadline: float | None, budget: float | None,
                        connect_timeout: float | None, *, streaming: bool) -> Http2Stream | None:
        loop = self._loop
        retried = False
        while True:
            conn = await pool.acquire(deadline, connect_timeout)
            if conn is None:
                return None
            stream = None
            try:
                stream = conn.open(method, target.authority, target.path, headers, body, streaming=streaming)
                if deadline is None:
                    await stream._fut
                else:
                    handle = loop.call_at(deadline, stream.timeout,  # type: ignore[union-attr]
                                          f"{method} {target.label} timed out after {budget:g}s")
                    try:
                        await stream._fut
                    finally:
                        handle.cancel()
            except _Refused:
                if retried:
                    raise UpstreamProtocolError(f"{target.label} refused the request twice") from None
                retried = True
                continue
            except BaseException:
                if stream is not None:
                    conn.cancel(stream)
                raise
            return stream

    def _pool(self, target: URLParts) -> Http2Pool:
        pool = self._pools.get(target.origin)
        if pool is not None:
            return pool
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an HttpClient is bound to the event loop it was first used on")
        if self._ssl is None:
            self._ssl = client_context(self.egress.tls, alpn=("h2", "http/1.1"))
        scheme, host, port = target.origin
        dialer = Dialer(scheme, host, port, tls=self._ssl, proxy=self.egress.proxies.for_origin(scheme, host, port))
        pool = self._pools[target.origin] = Http2Pool(loop, dialer, max_connections=self._max,
                                                      connect_timeout=self._connect_timeout,
                                                      keepalive_expiry=self._expiry)
        return pool

    def _target(self, url: str) -> URLParts | None:
        """Where an ``https`` URL goes over HTTP/2; None for the rest (HTTP/1.1)."""
        if url in self._targets:
            return self._targets[url]
        target = split_url(url) if url[:8].lower() == "https://" else None
        if len(self._targets) >= _URL_CACHE_SIZE:
            self._targets.clear()
        self._targets[url] = target
        return target


class _StreamContext:
    def __init__(self, client: Http2Client, method: str, url: str, headers: HeaderInput, body: bytes | None,
                 timeout: float | None, connect_timeout: float | None, total_timeout: float | None,
                 on_pool_wait: WaitListener | None = None) -> None:
        self._client = client
        self._args = (method, url, headers, body, timeout, connect_timeout, total_timeout)
        self._on_pool_wait = on_pool_wait
        self._stream: Http2Stream | None = None
        self._http1: Any = None
        self._total_handle: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> StreamResponse:
        client = self._client
        method, url, headers, body, timeout, connect_timeout, total = self._args
        target = client._target(url)
        pool = client._pool(target) if target is not None else None
        stream = None
        if pool is not None and not pool.declined:
            loop = client._loop
            started = loop.time()  # type: ignore[union-attr]
            deadline = None if timeout is None else started + timeout
            if total is not None and (deadline is None or started + total < deadline):
                deadline = started + total
            budget = None if deadline is None else deadline - started
            stream = await client._exchange(pool, target, method, headers, body, deadline, budget,  # type: ignore[arg-type]
                                            connect_timeout, streaming=True)
        if stream is None:
            self._http1 = client.http1.stream(method, url, headers=headers, body=body, timeout=timeout,
                                              connect_timeout=connect_timeout, total_timeout=total,
                                              on_pool_wait=self._on_pool_wait)
            return await self._http1.__aenter__()  # type: ignore[no-any-return]
        self._stream = stream
        if total is not None:
            self._total_handle = loop.call_at(  # type: ignore[union-attr]
                started + total, stream.timeout,
                f"{method} {target.label}: the total deadline of {total:.3g}s passed mid-stream")  # type: ignore[union-attr]
        return StreamResponse(stream.status, Headers(stream.raw_headers), stream)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._http1 is not None:
            await self._http1.__aexit__(exc_type, exc, tb)
            return
        stream, self._stream = self._stream, None
        if self._total_handle is not None:
            self._total_handle.cancel()
            self._total_handle = None
        if stream is None:
            return
        if stream.complete and stream.exc is None:
            stream.conn.release(stream)
        else:
            stream.conn.cancel(stream)

