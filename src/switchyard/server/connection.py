"""The HTTP/1.1 connection: uvicorn's httptools protocol with read limits and deadlines.

uvicorn bounds neither the size nor the number of request headers (httptools
holds a header value whole before handing it over, so a 32 MB header costs
32 MB), arms no timer on a connection until its first response is complete, and
waits for a body as long as the client trickles it. ``GuardedHttp`` adds, per
connection (settings under ``server:``):

- the request line and headers at most ``max_header_bytes`` together and at most
  ``max_headers`` headers, else 431 and the connection closes; the bytes are
  counted as they arrive, so an oversized header costs one socket read past the
  limit, never its whole size;
- the headers complete within ``header_timeout`` of connecting, or of a later
  request's first byte (slowloris), else 408 and close (a connection that sent
  nothing is just closed);
- the body complete within ``body_timeout`` of the headers: the app answers 408
  (``SwitchyardApp._read_body``, woken here when the body stalls), and a body
  nobody reads any more closes the connection;
- idle keep-alive connections close after ``keepalive_timeout`` (uvicorn's timer).

A ``ConnectionGuard`` per server checks every open connection's deadline a few
times per shortest timeout, rather than a timer per request: arming and
cancelling a timer costs about 3 µs, reading the clock 0.1 µs. A deadline is
thus enforced up to a quarter of the timeout (at most 1 s) late.

Errors are written in OpenAI's shape, like every other answer of the gateway.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from switchyard.core.config.server import ServerConfig
from switchyard.core.errors import HeadersTooLarge, InvalidRequest, RequestTimeout, SwitchyardError, to_openai_body

_HEAD, _BODY, _IDLE = 0, 1, 2  # reading a request's head, its body; between requests


class ConnectionGuard:
    """The limits of one server and the deadline checks of its open connections."""

    def __init__(self, limits: ServerConfig) -> None:
        self.max_header_bytes = limits.max_header_bytes
        self.max_headers = limits.max_headers
        self.header_timeout = limits.header_timeout
        self.body_timeout = limits.body_timeout
        self.keepalive_timeout = limits.keepalive_timeout
        self.tick = min(max(min(limits.header_timeout, limits.body_timeout) / 4, 0.01), 1.0)
        self.connections: set[GuardedHttp] = set()
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return (f"ConnectionGuard(max_header_bytes={self.max_header_bytes}, max_headers={self.max_headers}, "
                f"header_timeout={self.header_timeout}, body_timeout={self.body_timeout})")

    def add(self, connection: GuardedHttp) -> None:
        self.connections.add(connection)
        if self._timer is None:
            self._timer = connection.loop.call_later(self.tick, self._sweep, connection.loop)

    def discard(self, connection: GuardedHttp) -> None:
        self.connections.discard(connection)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in list(self.connections):  # a check may close one
            connection.check(now)
        # Idle servers keep no timer; the next connection starts it again.
        self._timer = loop.call_later(self.tick, self._sweep, loop) if self.connections else None


class _Refused(Exception):
    """Raised in a parser callback to refuse the request with ``error``."""

    def __init__(self, error: SwitchyardError) -> None:
        super().__init__(error.message)
        self.error = error


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded by a ``ConnectionGuard``.

    uvicorn builds one per connection; ``runner`` hands it the guard with
    ``functools.partial``.
    """

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, guard: ConnectionGuard) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = guard
        self.timeout_keep_alive = guard.keepalive_timeout  # type: ignore[assignment]  # uvicorn's: an int
        self.phase = _HEAD
        self.since = 0.0
        self.head_bytes = 0

    # -- connection -------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.since = self.loop.time()  # a connection that never sends is closed by header_timeout
        self.guard.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        phase = self.phase
        if phase != _BODY:
            if phase == _IDLE:  # the first bytes of a later request on this connection
                self.phase, self.since = _HEAD, self.loop.time()
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self.refuse(refused.error)
            else:
                self._invalid(exc)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            self._invalid(exc)
            return
        if self.phase != _BODY and self.head_bytes > self.guard.max_header_bytes:
            self.refuse(self._too_large())

    # -- parser callbacks (the head's bytes are bounded already, so its headers can be counted whole) --
    def on_headers_complete(self) -> None:
        guard = self.guard
        if len(self.headers) > guard.max_headers:
            raise _Refused(HeadersTooLarge(f"The request has more than {guard.max_headers} headers "
                                           "(server.max_headers)."))
        # head_bytes over-counts (the same read may carry body bytes): measure exactly only then.
        if self.head_bytes > guard.max_header_bytes and self._head_size() > guard.max_header_bytes:
            raise _Refused(self._too_large())
        self.phase, self.since = _BODY, self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.phase, self.head_bytes = _IDLE, 0
        super().on_message_complete()

    # -- deadlines and refusals -------------------------------------------
    def check(self, now: float) -> None:
        """Act on an expired deadline (called by the guard)."""
        if self.transport.is_closing():
            return
        if self.phase == _HEAD and now - self.since > self.guard.header_timeout:
            if self.head_bytes:
                self.refuse(RequestTimeout(
                    f"The request headers did not arrive within {self.guard.header_timeout:g} s "
                    "(server.header_timeout)."))
            else:
                self.transport.close()
        elif self.phase == _BODY and now - self.since > self.guard.body_timeout:
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                self.transport.close()  # answered already; the rest of the body is read by no one
                return
            cycle.keep_alive = False
            if not cycle.response_started:
                cycle.message_event.set()  # wake the app's receive(): it sees the time and answers 408

    def refuse(self, error: SwitchyardError) -> None:
        """Answer ``error`` and close; behind a response under way, close after it."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        body = orjson.dumps(to_openai_body(error))
        head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        self.transport.write(STATUS_LINE[error.status] + head + body)
        self.transport.close()

    def _invalid(self, exc: Exception) -> None:
        self.logger.warning("Invalid HTTP request received.")
        reason = str(exc).strip() or type(exc).__name__
        self.refuse(InvalidRequest(f"The request is not valid HTTP/1.1: {reason}.", code="invalid_http"))

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"The request line and headers exceed {self.guard.max_header_bytes} bytes (server.max_header_bytes).")


class ChunkedBody:
    """A started streamed response's body pieces written straight onto uvicorn's transport as
    HTTP/1.1 chunks: what uvicorn's ``send`` does for a body message, without a coroutine and
    a message dict per piece (a stream's per-chunk path)."""

    __slots__ = ("_cycle", "_flow", "_write")

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle
        self._flow = cycle.flow
        self._write = cycle.transport.write

    @classmethod
    def of(cls, send: Any) -> ChunkedBody | None:
        """One for ``send`` when it is uvicorn's and its response went out chunked (not HEAD),
        else None: the caller sends body messages through ``send``."""
        cycle = getattr(send, "__self__", None)
        if type(cycle) is not RequestResponseCycle or cycle.chunked_encoding is not True or cycle.response_complete:
            return None
        return cls(cycle)

    def write(self, body: bytes) -> bool:
        """Writes ``body`` (not empty) as one chunk; False, writing nothing, when the client's
        socket is full or gone: the caller awaits ``send`` instead (which waits, or drops it)."""
        if self._flow.write_paused or self._cycle.disconnected:
            return False
        self._write(b"%x\r\n%b\r\n" % (len(body), body))
        return True
