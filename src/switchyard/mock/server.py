"""The mock upstream server: asyncio Protocol + httptools, keep-alive, faults, stats.

It shares a core with the load generator in the benchmark, so the common case
(a plain answer, no fault) is written synchronously from ``data_received``
without creating a task; only latency, hangs, drops and paced streams take one.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

import httptools
import orjson

from switchyard.mock.faults import FaultBoard, Faults, faults_for_model
from switchyard.mock.http2 import MockH2Protocol
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, RouteTable, StreamReply

_GARBAGE_BODY = b"<html><body>502 Bad Gateway, certainly not JSON</body></html>"


def default_routes() -> tuple[Route, ...]:
    """Every wire format the mock speaks out of the box."""
    from switchyard.mock import anthropic, batches, bedrock, cohere, gemini, ollama, openai, replicate, vendors

    return (openai.ROUTES + batches.OPENAI_ROUTES + anthropic.ROUTES + batches.ANTHROPIC_ROUTES + bedrock.ROUTES
            + ollama.ROUTES + gemini.ROUTES + cohere.ROUTES + vendors.ROUTES + replicate.ROUTES)


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


class MockUpstream:
    """A fake LLM upstream on loopback.

    ``async with MockUpstream(port=0) as mock:`` then point a client at
    ``mock.url`` (``mock.base_url`` is ``url + "/v1"``). ``formats`` is a list of
    route tables (``ROUTES`` of wire-format modules); the default is OpenAI.
    ``api_key`` turns on credential checks; ``text`` replaces the echo of the
    last user message; ``stream_chunks`` is the number of content deltas per
    stream; ``chunk_delay_ms`` paces every stream.

    ``ssl`` (a server context) serves HTTPS (``url`` becomes ``https://``);
    ``http2`` then offers HTTP/2 by ALPN besides HTTP/1.1 (``mock.http2``).
    ``connections``, ``tls_handshakes`` and ``tls_resumed`` count what clients
    opened, for tests of connection and session reuse.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        text: str | None = None,
        stream_chunks: int = 20,
        chunk_delay_ms: float = 0.0,
        embedding_dims: int = 64,
        models: Sequence[str] | None = None,
        formats: Iterable[Sequence[Route]] | None = None,
        history: int = 200,
        ssl: ssl.SSLContext | None = None,
        http2: bool = False,
    ) -> None:
        if http2 and ssl is None:
            raise ValueError("http2 needs ssl: HTTP/2 is offered by ALPN in the TLS handshake")
        self.host = host
        self.port = port
        self.ssl = ssl
        self.http2 = http2
        if ssl is not None:
            ssl.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
        self.settings = MockSettings(
            api_key=api_key,
            text=text,
            stream_chunks=stream_chunks,
            chunk_delay_ms=chunk_delay_ms,
            embedding_dims=embedding_dims,
            **({"models": tuple(models)} if models else {}),  # type: ignore[arg-type]
        )
        routes = [r for table in (formats if formats is not None else [default_routes()]) for r in table]
        if not routes:
            raise ValueError("the mock needs at least one route")
        self._routes = RouteTable(routes)
        self._fallback_wire = routes[0].wire
        self.faults = FaultBoard()
        self.counts: collections.Counter[str] = collections.Counter()
        self.requests: collections.deque[MockRequest] = collections.deque(maxlen=history)
        self._seq = 0
        self._rpm_tat = 0.0  # the ``rpm`` knob's bucket (GCRA: when it is whole again)
        self._server: asyncio.AbstractServer | None = None
        self._protocols: set[asyncio.Protocol] = set()
        self.connections = 0
        self.tls_handshakes = 0
        self.tls_resumed = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl is not None else 'http'}://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def start(self) -> MockUpstream:
        loop = asyncio.get_running_loop()
        factory = _Negotiated if self.http2 else _MockProtocol
        self._server = await loop.create_server(lambda: factory(self), self.host, self.port, backlog=4096, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for protocol in list(self._protocols):
                protocol.abort()  # type: ignore[attr-defined]
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MockUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def opened(self, transport: asyncio.BaseTransport) -> None:
        """Count a connection (and its TLS handshake, resumed or full) once it is up."""
        self.connections += 1
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls_handshakes += 1
            self.tls_resumed += bool(ssl_object.session_reused)

    def set_faults(self, *, count: int | None = None, **knobs: Any) -> None:
        """Apply fault knobs (see ``mock.faults``) to every request, or the next ``count``."""
        self.faults.set(Faults.from_json(knobs), count)

    def reset(self) -> None:
        """Forget faults, counts and recorded requests."""
        self.faults.clear()
        self._rpm_tat = 0.0
        self.counts.clear()
        self.connections = 0
        self.requests.clear()

    def count(self, path: str) -> int:
        """How many requests reached ``path`` (control endpoints excluded)."""
        return self.counts[path]

    def stats(self) -> dict[str, Any]:
        current = self.faults.current
        return {
            "total": sum(self.counts.values()),
            "paths": dict(self.counts),
            "connections": self.connections,
            "faults": None if current is None else {k: v for k, v in _asdict(current).items() if v is not None},
        }

    def handle(self, req: MockRequest) -> tuple[Reply | StreamReply, Faults | None]:
        """Route one request and decide its faults; the protocol does the writing."""
        self._seq += 1
        req.seq = self._seq
        if req.path.startswith("/_mock/"):
            return self._control(req), None
        route, params, known = self._routes.match(req.method, req.path)
        wire = route.wire if route is not None else self._fallback_wire
        if route is None:
            status = 405 if known else 404
            return wire.error(status, f"Unknown request URL: {req.method} {req.path}.", code="unknown_url"), None
        req.params = params
        self.counts[req.path] += 1
        self.requests.append(req)
        key = self.settings.api_key
        if key is not None and not wire.authorized(req, key):
            return wire.error(401, "Incorrect API key provided.", code="invalid_api_key"), None
        faults = self.faults.take()
        model_faults = faults_for_model(_model(wire, req))
        if model_faults is not None:
            faults = model_faults.over(faults)
        header_faults = Faults.from_headers(req.mock_headers)
        if header_faults is not None:
            faults = header_faults.over(faults)
        limit_headers: list[tuple[str, str]] | None = None
        if faults is not None and faults.rpm:
            limit_headers, wait = self._take_request(faults.rpm)
            if wait is not None:
                refusal = wire.error(429, f"Rate limit reached for requests: limit {faults.rpm} per minute.")
                refusal.headers = _with(refusal.headers, [*limit_headers, ("retry-after", str(max(1, round(wait)))),
                                                          ("retry-after-ms", str(int(wait * 1000)))])
                return refusal, faults
        if faults is not None and faults.status is not None and faults.status >= 300:
            fault = wire.error(faults.status, f"Mock fault: status {faults.status}.")
            retry_after = faults.retry_after
            if retry_after is None and faults.status == 429:
                retry_after = 1.0
            if retry_after is not None:
                fault.headers = [
                    *fault.headers,
                    ("retry-after", str(max(0, round(retry_after)))),
                    ("retry-after-ms", str(int(retry_after * 1000))),
                ]
            return fault, faults
        try:
            reply = route.handler(req, self.settings)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return wire.error(400, f"Invalid request: {exc}"), None
        if faults is not None and faults.garbage:
            if isinstance(reply, StreamReply):
                reply.chunks = [reply.garbage_chunk] * max(1, len(reply.chunks))
            else:
                reply = Reply(200, _GARBAGE_BODY, (), "application/json")
        if limit_headers is not None:
            reply.headers = _with(reply.headers, limit_headers)
        return reply, faults

    def _take_request(self, rpm: int) -> tuple[list[tuple[str, str]], float | None]:
        """One request from the ``rpm`` bucket: its headers, and the wait when it is empty."""
        now = time.monotonic()
        interval = 60.0 / rpm
        tat = max(self._rpm_tat, now)
        over = tat + interval - now - 60.0
        if over > 1e-9:
            return _rate_headers(rpm, 0, tat - now), over
        self._rpm_tat = tat + interval
        fill = self._rpm_tat - now
        return _rate_headers(rpm, int(rpm - fill / interval + 1e-9), fill), None

    def _control(self, req: MockRequest) -> Reply:
        path = req.path
        if path == "/_mock/stats" and req.method == "GET":
            return Reply(200, orjson.dumps(self.stats()))
        if path == "/_mock/health":
            return Reply(200, b'{"ok":true}')
        if path == "/_mock/reset" and req.method == "POST":
            self.reset()
            return Reply(200, b'{"ok":true}')
        if path == "/_mock/faults" and req.method == "DELETE":
            self.faults.clear()
            return Reply(200, b'{"ok":true}')
        if path == "/_mock/faults" and req.method == "POST":
            try:
                data = dict(req.json())
                count = data.pop("count", None)
                self.set_faults(count=None if count is None else int(count), **data)
            except (ValueError, TypeError) as exc:
                return Reply(400, orjson.dumps({"error": {"message": str(exc), "type": "invalid_request_error"}}))
            return Reply(200, orjson.dumps({"ok": True, **self.stats()}))
        return Reply(404, b'{"error":{"message":"unknown control endpoint","type":"invalid_request_error"}}')


class _Negotiated(asyncio.Protocol):
    """Whichever protocol ALPN chose: HTTP/2 (``mock.http2``) or HTTP/1.1."""

    def __init__(self, server: MockUpstream) -> None:
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        protocol: asyncio.Protocol = MockH2Protocol(self._server) if chosen == "h2" else _MockProtocol(self._server)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


def _rate_headers(limit: int, remaining: int, reset: float) -> list[tuple[str, str]]:
    text = f"{int(reset * 1000)}ms" if reset < 1 else f"{reset:.3f}s"
    return [("x-ratelimit-limit-requests", str(limit)), ("x-ratelimit-remaining-requests", str(remaining)),
            ("x-ratelimit-reset-requests", text)]


def _with(headers: Sequence[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with ``extra`` replacing any of the same names."""
    names = {name for name, _ in extra}
    return [*(h for h in headers if h[0] not in names), *extra]


def _asdict(faults: Faults) -> dict[str, Any]:
    return {name: getattr(faults, name) for name in faults.__slots__}


def _model(wire: Any, req: MockRequest) -> str | None:
    try:
        model = wire.model_of(req)
        return None if model is None else str(model)
    except (ValueError, TypeError, AttributeError):
        return None


class _MockProtocol(asyncio.Protocol):
    def __init__(self, server: MockUpstream) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: collections.deque[tuple[MockRequest, bool]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._reset_message()

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._mock_headers: dict[str, str] = {}
        self._body: list[bytes] = []

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server._protocols.add(self)
        self._server.opened(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._protocols.discard(self)
        self._transport = None
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.write(
                    _status_line(400) + b"content-length: 0\r\nconnection: close\r\n\r\n"
                )
                self._transport.close()

    def on_message_begin(self) -> None:
        self._reset_message()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = text
        if key.startswith("x-mock-"):
            self._mock_headers[key] = text

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        req = MockRequest(
            self._parser.get_method().decode(),
            path,
            query,
            self._headers,
            b"".join(self._body),
            self._mock_headers,
        )
        keep_alive = self._parser.should_keep_alive()
        if self._task is not None:
            self._pending.append((req, keep_alive))
        else:
            self._dispatch(req, keep_alive)

    def _dispatch(self, req: MockRequest, keep_alive: bool) -> None:
        reply, faults = self._server.handle(req)
        delay = self._server.settings.chunk_delay_ms
        if faults is not None and faults.chunk_delay_ms is not None:
            delay = faults.chunk_delay_ms
        if faults is None or not (faults.latency_ms or faults.hang or faults.drop_after_chunks is not None
                                  or faults.end_delay_ms):
            if isinstance(reply, Reply):
                self._write_reply(reply, req, keep_alive)
                return
            if not delay:
                self._write_stream(reply, req, keep_alive, None)
                return
        self._task = asyncio.get_running_loop().create_task(self._respond_later(reply, req, keep_alive, faults, delay))

    async def _respond_later(
        self, reply: Reply | StreamReply, req: MockRequest, keep_alive: bool, faults: Faults | None, delay: float
    ) -> None:
        if faults is not None and faults.hang:
            await asyncio.get_running_loop().create_future()  # until the client leaves
        if faults is not None and faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        drop = faults.drop_after_chunks if faults is not None else None
        if isinstance(reply, Reply):
            if drop is not None and self._transport is not None:
                body = reply.body
                self._transport.write(self._head(reply.status, reply.content_type, reply.headers, req, len(body), True))
                self._transport.write(body[: len(body) // 2])
                self._transport.close()
                return
            self._write_reply(reply, req, keep_alive)
        else:
            end_delay = faults.end_delay_ms if faults is not None and faults.end_delay_ms else 0.0
            await self._write_stream_paced(reply, req, keep_alive, drop, delay / 1000, end_delay / 1000)
        self._task = None
        self._next()

    def _next(self) -> None:
        while self._pending and self._task is None and self._transport is not None:
            self._dispatch(*self._pending.popleft())

    def _head(
        self,
        status: int,
        content_type: str,
        headers: Sequence[tuple[str, str]],
        req: MockRequest,
        length: int | None,
        keep_alive: bool,
    ) -> bytes:
        lines = [f"content-type: {content_type}\r\nx-request-id: req_mock_{req.seq}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"content-length: {length}\r\n" if length is not None else "transfer-encoding: chunked\r\n")
        if not keep_alive:
            lines.append("connection: close\r\n")
        lines.append("\r\n")
        return _status_line(status) + "".join(lines).encode("latin-1")

    def _write_reply(self, reply: Reply, req: MockRequest, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(self._head(reply.status, reply.content_type, reply.headers, req, len(reply.body), keep_alive) + reply.body)
        if not keep_alive:
            transport.close()

    def _write_stream(self, reply: StreamReply, req: MockRequest, keep_alive: bool, drop: int | None) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(self._head(reply.status, reply.content_type, reply.headers, req, None, keep_alive))
        for chunk in reply.chunks:
            transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        transport.write(b"0\r\n\r\n")
        if not keep_alive:
            transport.close()

    async def _write_stream_paced(
        self, reply: StreamReply, req: MockRequest, keep_alive: bool, drop: int | None, delay: float,
        end_delay: float = 0.0,
    ) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(self._head(reply.status, reply.content_type, reply.headers, req, None, keep_alive))
        for i, chunk in enumerate(reply.chunks):
            if drop is not None and i >= drop:
                transport.close()
                return
            if delay and i:
                await asyncio.sleep(delay)
                if self._transport is None:
                    return
            transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        if end_delay:
            await asyncio.sleep(end_delay)
            if self._transport is None:
                return
        transport.write(b"0\r\n\r\n")
        if not keep_alive:
            transport.close()
