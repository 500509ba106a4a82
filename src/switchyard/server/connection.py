"""The HTTP/1.1 connection: httptools' parser, ASGI 3 to the app, read limits and deadlines.

uvicorn runs the server (sockets, lifespan, signals, graceful shutdown) and builds
one ``Http1`` per connection. ``Http1`` is the gateway's own protocol rather than
uvicorn's ``HttpToolsProtocol``: that one costs about 95k CPU instructions a request
(measured under callgrind against a bare httptools protocol: 137k against 42k), in an
asyncio ``Event`` and a keep-alive timer per request, header regexes, and the
coroutines around each message. This one speaks the same ASGI to the app
(``SwitchyardApp``, the MCP SDK's app behind it) and keeps what the gateway needs:

- the request line and headers at most ``max_header_bytes`` together and at most
  ``max_headers`` headers, else 431 and the connection closes; the bytes are
  counted as they arrive, so an oversized header costs one socket read past the
  limit, never its whole size (httptools holds a header value whole);
- the headers complete within ``header_timeout`` of connecting, or of a later
  request's first byte (slowloris), else 408 and close (a connection that sent
  nothing is just closed);
- the body complete within ``body_timeout`` of the headers: the app answers 408
  (``SwitchyardApp._read_body``, woken here when the body stalls), and a body
  nobody reads any more closes the connection;
- idle keep-alive connections close after ``keepalive_timeout``;
- pipelined requests answered in order (reading pauses while one is answered);
  ``Expect: 100-continue`` answered when the app first reads the body; writes
  wait while the socket's buffer is full (flow control);
- a response whose head carries ``content-length`` goes out in one write with its
  body (no chunked framing); one without is sent chunked as it comes.

A ``ConnectionGuard`` per server checks every open connection's deadlines a few
times per shortest timeout, rather than a timer per request: arming and
cancelling a timer costs about 3 µs, reading the clock 0.1 µs. A deadline is
thus enforced up to a quarter of the timeout (at most 1 s) late.

Errors are written in OpenAI's shape, like every other answer of the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections import deque
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from switchyard.core.config.server import ServerConfig
from switchyard.core.errors import HeadersTooLarge, InvalidRequest, RequestTimeout, SwitchyardError, to_openai_body

log = logging.getLogger("switchyard.server")

_HEAD, _BODY, _IDLE = 0, 1, 2  # reading a request's head, its body; between requests
_ASGI = {"version": "3.0", "spec_version": "2.3"}


class ConnectionGuard:
    """The limits of one server and the deadline checks of its open connections."""

    def __init__(self, limits: ServerConfig) -> None:
        self.max_header_bytes = limits.max_header_bytes
        self.max_headers = limits.max_headers
        self.header_timeout = limits.header_timeout
        self.body_timeout = limits.body_timeout
        self.keepalive_timeout = limits.keepalive_timeout
        self.tick = min(max(min(limits.header_timeout, limits.body_timeout, limits.keepalive_timeout) / 4, 0.01),
                        1.0)
        self.connections: set[Http1] = set()
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return (f"ConnectionGuard(max_header_bytes={self.max_header_bytes}, max_headers={self.max_headers}, "
                f"header_timeout={self.header_timeout}, body_timeout={self.body_timeout})")

    def add(self, connection: Http1) -> None:
        self.connections.add(connection)
        if self._timer is None:
            self._timer = connection.loop.call_later(self.tick, self._sweep, connection.loop)

    def discard(self, connection: Http1) -> None:
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


class Http1(asyncio.Protocol):
    """One client connection. uvicorn builds one per connection (``runner`` hands it
    the guard with ``functools.partial``)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, guard: ConnectionGuard) -> None:
        app = config.loaded_app
        # An app with a separate HTTP entry (``SwitchyardApp.http_entry``) is called there:
        # requests never need its lifespan dispatch.
        self.app = getattr(app, "http_entry", app)
        self.loop = _loop or asyncio.get_event_loop()
        self.guard = guard
        self.server_state = server_state
        self.app_state = app_state
        self.parser = httptools.HttpRequestParser(self)
        try:  # answer the first of pipelined requests that end with a close
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        except AttributeError:  # pragma: no cover - httptools < 0.6.3
            pass
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.phase = _HEAD
        self.since = 0.0
        self.head_bytes = 0
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.cycle: Cycle | None = None
        self.pipeline: deque[Cycle] = deque()
        self.read_paused = False
        self.write_paused = False
        self.writable: asyncio.Future[None] | None = None

    # -- connection -------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.server_state.connections.add(self)
        socket = transport.get_extra_info("socket")
        if socket is not None:
            try:
                self.server = socket.getsockname()[:2]
                self.client = socket.getpeername()[:2]
            except OSError:  # pragma: no cover - a connection gone already
                pass
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        self.since = self.loop.time()  # a connection that never sends is closed by header_timeout
        self.guard.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.guard.discard(self)
        cycle = self.cycle
        if cycle is not None:
            if not cycle.response_complete:
                cycle.disconnected = True
            cycle.wake()
        for queued in self.pipeline:
            queued.disconnected = True
        self.pipeline.clear()
        self.resume_writing()  # a send waiting for room wakes and sees the disconnect
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
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
            log.warning("Unsupported upgrade request.")  # served as plain HTTP, as it was
            return
        except httptools.HttpParserError as exc:
            self._invalid(exc)
            return
        if self.phase != _BODY and self.head_bytes > self.guard.max_header_bytes:
            self.refuse(self._too_large())

    # -- parser callbacks -------------------------------------------------
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect_continue = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        guard = self.guard
        headers = self.headers
        if len(headers) > guard.max_headers:
            raise _Refused(HeadersTooLarge(f"The request has more than {guard.max_headers} headers "
                                           "(server.max_headers)."))
        # head_bytes over-counts (the same read may carry body bytes): measure exactly only then.
        if self.head_bytes > guard.max_header_bytes and self._head_size() > guard.max_header_bytes:
            raise _Refused(self._too_large())
        self.phase, self.since = _BODY, self.loop.time()
        parser = self.parser
        parsed = httptools.parse_url(self.url)
        raw_path = parsed.path
        path = raw_path.decode("ascii")
        if path.find("%") >= 0:
            path = urllib.parse.unquote(path)
        version = parser.get_http_version()
        scope = {
            "type": "http", "asgi": _ASGI, "http_version": version, "server": self.server, "client": self.client,
            "scheme": self.scheme, "method": parser.get_method().decode("ascii"), "root_path": "", "path": path,
            "raw_path": raw_path, "query_string": parsed.query or b"", "headers": headers,
            "state": self.app_state.copy() if self.app_state else {},
        }
        cycle = Cycle(self, scope, version != "1.0" and parser.should_keep_alive(), self.expect_continue)
        current = self.cycle
        if current is None or current.response_complete:
            self.cycle = cycle
            self._start(cycle)
        else:  # pipelined: answered after the one under way
            self._pause_reading()
            self.pipeline.append(cycle)

    def _reading(self) -> Cycle | None:
        """The cycle whose request the parser is reading (the last pipelined one, if any)."""
        return self.pipeline[-1] if self.pipeline else self.cycle

    def on_body(self, body: bytes) -> None:
        cycle = self._reading()
        if cycle is None or cycle.response_complete:
            return
        cycle.body.append(body)
        cycle.buffered += len(body)
        if cycle.buffered > HIGH_WATER_LIMIT:  # reading pauses until the app takes them
            self._pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        self.phase, self.head_bytes, self.since = _IDLE, 0, self.loop.time()
        cycle = self._reading()
        if cycle is None or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.wake()

    # -- the app's task ---------------------------------------------------
    def _start(self, cycle: Cycle) -> None:
        tasks = self.server_state.tasks
        task = self.loop.create_task(cycle.run(self.app))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def response_done(self) -> None:
        """The cycle under way sent its last byte: the next pipelined one starts, or the
        connection waits for the next request (``keepalive_timeout``)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.phase == _IDLE:
            self.since = self.loop.time()
        self.resume_reading()
        if self.pipeline:
            cycle = self.cycle = self.pipeline.popleft()
            self._start(cycle)

    # -- flow control -----------------------------------------------------
    def _pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def drain(self) -> None:
        if self.writable is None:
            self.writable = self.loop.create_future()
        await self.writable

    # -- deadlines and refusals -------------------------------------------
    def shutdown(self) -> None:
        """Called by the server on a graceful shutdown: close when idle, else after the answer."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.transport.close()
        else:
            cycle.keep_alive = False

    def check(self, now: float) -> None:
        """Act on an expired deadline (called by the guard)."""
        if self.transport.is_closing():
            return
        guard = self.guard
        cycle = self.cycle
        if self.phase == _HEAD and now - self.since > guard.header_timeout:
            if self.head_bytes:
                self.refuse(RequestTimeout(
                    f"The request headers did not arrive within {guard.header_timeout:g} s "
                    "(server.header_timeout)."))
            else:
                self.transport.close()
        elif self.phase == _BODY and now - self.since > guard.body_timeout:
            if cycle is None or cycle.response_complete:
                self.transport.close()  # answered already; the rest of the body is read by no one
                return
            cycle.keep_alive = False
            if not cycle.response_started:
                cycle.wake()  # wake the app's receive(): it sees the time and answers 408
        elif (self.phase == _IDLE and (cycle is None or cycle.response_complete)
              and now - self.since > guard.keepalive_timeout):
            self.transport.close()

    def refuse(self, error: SwitchyardError) -> None:
        """Answer ``error`` and close; behind a response under way, close after it."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            self._pause_reading()
            return
        body = orjson.dumps(to_openai_body(error))
        head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        self.transport.write(STATUS_LINE[error.status] + head + body)
        self.transport.close()

    def _invalid(self, exc: Exception) -> None:
        log.warning("Invalid HTTP request received.")
        reason = str(exc).strip() or type(exc).__name__
        self.refuse(InvalidRequest(f"The request is not valid HTTP/1.1: {reason}.", code="invalid_http"))

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"The request line and headers exceed {self.guard.max_header_bytes} bytes (server.max_header_bytes).")


class Cycle:
    """One request and its response, as the app sees them: ``receive`` and ``send``."""

    __slots__ = ("conn", "scope", "keep_alive", "waiting_continue", "body", "buffered", "more_body", "disconnected",
                 "waiter", "response_started", "response_complete", "chunked", "head", "remaining", "head_only",
                 "ended")

    def __init__(self, conn: Http1, scope: dict[str, Any], keep_alive: bool, expect_continue: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.waiting_continue = expect_continue
        self.body: list[bytes] = []
        self.buffered = 0
        self.more_body = True
        self.disconnected = False
        self.waiter: asyncio.Future[None] | None = None
        self.response_started = False
        self.response_complete = False
        self.chunked = False
        self.head: bytes | None = None  # a head held back to go out with its body
        self.remaining = 0  # content-length still to send
        self.head_only = scope["method"] == "HEAD"
        self.ended = False  # the body's last part was handed to the app

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def run(self, app: Any) -> None:
        conn = self.conn
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            log.error("Exception in ASGI application", exc_info=exc)
            if not self.response_started and not self.disconnected:
                self._send_500()
            else:
                conn.transport.close()
            if not isinstance(exc, Exception):
                raise
        else:
            if not self.response_started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                self._send_500()
            elif not self.response_complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                conn.transport.close()

    def _send_500(self) -> None:
        transport = self.conn.transport
        if transport.is_closing():
            return
        transport.write(STATUS_LINE[500] + b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n"
                        b"connection: close\r\n\r\nInternal Server Error")
        transport.close()

    # -- ASGI -------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        conn = self.conn
        if self.waiting_continue:
            self.waiting_continue = False
            if not conn.transport.is_closing():
                conn.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not self.body and (self.more_body or self.ended) and not self.disconnected and not self.response_complete:
            conn.resume_reading()
            waiter = self.waiter = conn.loop.create_future()
            await waiter
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        body = self.body
        part = body[0] if len(body) == 1 else b"".join(body)
        if body:
            self.body, self.buffered = [], 0
            if conn.read_paused and not conn.pipeline:
                conn.resume_reading()
        more = self.more_body
        if not more:
            self.ended = True
        return {"type": "http.request", "body": part, "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self.response_started = True
            self.waiting_continue = False
            self._start(message["status"], message.get("headers", ()))
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")
        if message["type"] != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        head, self.head = self.head, None
        if self.head_only:
            out = head or b""
        elif self.chunked:
            out = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (b"" if more else b"0\r\n\r\n")
            if head is not None:
                out = head + out
        else:
            size = len(body)
            if size > self.remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self.remaining -= size
            out = body if head is None else head + body
        if out:
            conn.transport.write(out)
        if not more:
            if self.remaining and not self.head_only:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.wake()
            if not self.keep_alive:
                conn.transport.close()
            conn.response_done()

    def _start(self, status: int, headers: Any) -> None:
        """The head: held back when it names its length (it goes out with the body, one
        write), else written now and the body sent chunked."""
        parts = [STATUS_LINE[status]]
        length = None
        lines = 1
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value)
                continue
            if lowered == b"transfer-encoding":
                continue  # the framing is this connection's to choose
            elif lowered == b"connection" and value.lower().find(b"close") >= 0:
                self.keep_alive = False
                continue
            parts += (lowered, b": ", value, b"\r\n")
            lines += 1
        head = b"".join(parts)
        if head.count(b"\n") != lines or head.count(b"\r") != lines:
            raise RuntimeError("Invalid HTTP header value.")  # a CR or LF inside a name or value
        if not self.keep_alive:
            head += b"connection: close\r\n"
        if length is not None:
            self.remaining = length
            self.head = head + b"content-length: %d\r\n\r\n" % length
        elif self.head_only or status in (204, 304) or status < 200:
            self.head = head + b"\r\n"
        else:
            self.chunked = True
            self.conn.transport.write(head + b"transfer-encoding: chunked\r\n\r\n")


class ChunkedBody:
    """A started streamed response's body pieces written straight onto the connection as
    HTTP/1.1 chunks: what ``Cycle.send`` does for a body message, without a coroutine and a
    message dict per piece (a stream's per-chunk path)."""

    __slots__ = ("_cycle", "_conn", "_write")

    def __init__(self, cycle: Cycle) -> None:
        self._cycle = cycle
        self._conn = cycle.conn
        self._write = cycle.conn.transport.write

    @classmethod
    def of(cls, send: Any) -> ChunkedBody | None:
        """One for ``send`` when it is this server's and its response went out chunked (not
        HEAD), else None: the caller sends body messages through ``send``."""
        cycle = getattr(send, "__self__", None)
        if type(cycle) is not Cycle or not cycle.chunked or cycle.head_only or cycle.response_complete:
            return None
        return cls(cycle)

    def write(self, body: bytes) -> bool:
        """Writes ``body`` (not empty) as one chunk; False, writing nothing, when the client's
        socket is full or gone: the caller awaits ``send`` instead (which waits, or drops it)."""
        if self._conn.write_paused or self._cycle.disconnected:
            return False
        self._write(b"%x\r\n%b\r\n" % (len(body), body))
        return True
