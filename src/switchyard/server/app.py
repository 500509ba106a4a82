"""The ASGI application: routing, body limits, auth, error mapping, SSE.

``create_app(config)`` returns an app over one ``AsyncClient`` (the in-process
gateway): its services — the upstream HTTP client, the provider adapters, the
authenticator, background tasks — are created on ASGI lifespan startup and
closed on shutdown. Nothing lives at module level.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any

import orjson

from switchyard.client import AsyncClient
from switchyard.core.config import Config
from switchyard.core.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    SwitchyardError,
    to_openai_body,
)
from switchyard.core.registry import Registry
from switchyard.core.request_ids import RequestIds
from switchyard.gateway.services import Services
from switchyard.observe.access import AccessLog
from switchyard.observe.tally import Gaps
from switchyard.server.connection import ChunkedBody
from switchyard.server.http import (
    ChunkFrames,
    Request,
    Response,
    StreamResponse,
    json_response,
    openai_error_frame,
)
from switchyard.server.routes import Handler, RouteTable

log = logging.getLogger("switchyard.server")

ErrorBody = Callable[[SwitchyardError], dict[str, Any]]
_REQUEST_ID = b"x-request-id"




class SwitchyardApp:
    """The gateway as an ASGI 3 application."""

    def __init__(self, config: Config, *, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or Registry()
        self.max_body = config.server.max_body_bytes
        self.body_timeout = config.server.body_timeout
        self.client = AsyncClient(config, registry=self.registry)
        self.request_ids = RequestIds()
        #: The retrieval pipelines behind /v1/retrieve (set by its routes when ``retrieval:`` is configured).
        self.retrieval: Any = None
        self.routes = RouteTable.default(self)
        self.access = AccessLog(config.logging)
        #: The agents of ``agents:`` (``server/agent_routes.py``), built at startup; None without them.
        self.agents: Any = None
        self._started = asyncio.Event()
        if config.mcp is not None:  # /mcp before the route table; without mcp: not even a path check
            from switchyard.server.mcp_routes import McpMount

            self._http = McpMount(self, self._http)  # type: ignore[method-assign]
        #: The ASGI callable for HTTP scopes alone (the server's protocol calls it directly).
        self.http_entry = self._http

    @property
    def services(self) -> Services | None:
        """The client's running services (None while starting or stopping)."""
        return self.client.services

    # -- lifespan ---------------------------------------------------------
    async def startup(self) -> None:
        services = await self.client.start()
        if self.config.agents is not None:
            from switchyard.agents.catalog import AgentCatalog

            self.agents = await AgentCatalog(self.config.agents).start(self.client, services.durable)
        # Everything built so far lives as long as the process: move it out of the
        # collector's sight, so collections triggered by requests stay short.
        gc.collect()
        gc.freeze()
        self._started.set()

    async def shutdown(self) -> None:
        self._started.clear()
        agents, self.agents = self.agents, None
        if agents is not None:
            await agents.aclose()
        if self.retrieval is not None:
            await self.retrieval.aclose()
        await self.client.aclose()

    async def __aenter__(self) -> SwitchyardApp:
        await self.startup()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # the server must not start half-built
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests ---------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = perf_counter()
        headers = {}
        for name, value in scope["headers"]:
            headers[name.decode("latin-1")] = value.decode("latin-1")
        request_id = headers.get("x-request-id")
        if not request_id or len(request_id) > 128 or not request_id.isprintable():
            request_id = self.request_ids()
        rid = request_id.encode("latin-1")
        path, method = scope["path"], scope["method"]
        handler, params, error_body = self.routes.match(method, path)
        request = None
        try:
            if handler is None:
                raise params  # a NotFound or method-not-allowed error
            request = Request(method, path, scope.get("query_string", b""), headers, b"", request_id,
                              path_params=params, client=scope.get("client"))
            services = self.client.services
            if (handler.needs_services or handler.authenticated) and services is None:
                raise ServiceUnavailable("The gateway is starting or stopping.")
            if handler.authenticated:
                caller = request.caller = services.auth.authenticate(  # type: ignore[union-attr]
                    headers.get("authorization"), headers.get("x-api-key"))
                if caller.routes is not None:  # a virtual key limited to some routes
                    caller.check_route(path)
            if handler.reads_body:
                request.body = await self._read_body(headers, receive, started, handler.max_body or self.max_body)
            request.client_gone = functools.partial(_wait_disconnect, receive)
            result = await handler.fn(request)
        except SwitchyardError as exc:
            await self._send_error(send, exc, rid, error_body)
            self.access.write(method, path, request_id, request, exc.status, started, exc)
            if request is None or request.call is None:
                self._refused(exc.status)
            return
        except Exception as exc:
            log.exception("unhandled error", extra={"request_id": request_id, "method": method, "path": path})
            await self._send_error(send, SwitchyardError("Internal server error."), rid, error_body)
            self.access.write(method, path, request_id, request, 500, started, exc)
            if request is None or request.call is None:
                self._refused(500)
            return
        if isinstance(result, StreamResponse):
            outcome, error = await self._send_stream(send, receive, result, rid, request_id, request.call)
            self.access.write(method, path, request_id, request, 200, started, error, result.headers, True, outcome)
        else:
            body = result.body
            await send({
                "type": "http.response.start",
                "status": result.status,
                "headers": [(b"content-type", result.content_type), (b"content-length", b"%d" % len(body)),
                            (_REQUEST_ID, rid), *result.headers],
            })
            await send({"type": "http.response.body", "body": body})
            self.access.write(method, path, request_id, request, result.status, started, None, result.headers)

    def _refused(self, status: int) -> None:
        """A request refused before it reached the pipeline still counts (metrics)."""
        services = self.client.services
        if services is not None and services.metrics is not None:
            services.metrics.refused(status)

    async def _read_body(self, headers: dict[str, str], receive: Any, started: float, max_body: int) -> bytes:
        """The whole body, within ``max_body`` bytes (``server.max_body_bytes`` unless the route takes
        more; else 413) and ``server.body_timeout`` seconds of ``started`` (else 408; the server wakes a
        ``receive`` that waits past it)."""
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise InvalidRequest("Invalid Content-Length header.") from None
            if declared > max_body:
                raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {max_body}.")
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InvalidRequest("Client disconnected while sending the body.")
            part = message.get("body", b"")
            if part:
                size += len(part)
                if size > max_body:
                    raise PayloadTooLarge(f"Request body exceeds the limit of {max_body} bytes.")
                parts.append(part)
            if not message.get("more_body", False):
                break
            if perf_counter() - started > self.body_timeout:
                raise RequestTimeout(f"The request body did not arrive within {self.body_timeout:g} s "
                                     "(server.body_timeout).", headers={"connection": "close"})
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _send_error(self, send: Any, exc: SwitchyardError, rid: bytes, error_body: ErrorBody) -> None:
        body = orjson.dumps(error_body(exc))
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), (_REQUEST_ID, rid)]
        headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in exc.response_headers().items())
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _send_stream(self, send: Any, receive: Any, stream: StreamResponse, rid: bytes,
                           request_id: str, call: Any = None) -> tuple[str, BaseException | None]:
        """Sends the stream; ``(outcome, error)``: ``ok``, ``error`` (an error event
        ended it) or ``disconnect`` (the client went away first)."""
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", stream.content_type),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
                (_REQUEST_ID, rid),
                *stream.headers,
            ],
        })
        services = self.client.services
        gaps = None if services is None or services.metrics is None or call is None else services.metrics.chunk_gaps(call)
        # The pump runs in this task; a watcher task waits for the client to go away and then
        # cancels it (one task per stream, not two and an ``asyncio.wait``).
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        state = [False, False]  # the client went away; the pump is over (a late callback does nothing)

        def client_left(done: asyncio.Future[None]) -> None:
            if not state[1] and not done.cancelled() and done.exception() is None:
                state[0] = True
                task.cancel()  # stop reading the upstream

        watcher.add_done_callback(client_left)
        try:
            error = await self._pump(send, stream, request_id, gaps)
        except asyncio.CancelledError:
            if state[0] and task.uncancel() == 0:
                return "disconnect", None
            raise
        finally:
            state[1] = True
            watcher.cancel()
        return ("ok", None) if error is None else ("error", error)

    async def _pump(self, send: Any, stream: StreamResponse, request_id: str,
                    gaps: Any = None) -> BaseException | None:
        """Sends every frame; returns the error a failed stream ended with (None when complete).
        ``gaps`` (metrics on) is told the time between consecutive writes. OpenAI chunks
        (``ChunkFrames``) are framed as they are read: no generator in between."""
        events = stream.events
        tick = None if gaps is None else Gaps(gaps).tick
        try:
            if isinstance(events, ChunkFrames):
                await events.send_all(send, ChunkedBody.of(send), tick)
            else:
                async for frame in events:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                    if tick is not None:
                        tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, SwitchyardError):
                log.error("stream failed", exc_info=exc, extra={"request_id": request_id})
            render = stream.error_frame or openai_error_frame
            await send({"type": "http.response.body", "body": render(exc), "more_body": False})
            return exc
        finally:
            await events.aclose()  # type: ignore[union-attr]
        await send({"type": "http.response.body", "body": stream.done or b"", "more_body": False})
        return None


async def _wait_disconnect(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def create_app(config: Config | None = None, *, registry: Registry | None = None) -> SwitchyardApp:
    """The ASGI app for ``config`` (the embedded default when None)."""
    if config is None:
        from switchyard.gateway.defaults import default_config

        config = default_config()
    return SwitchyardApp(config, registry=registry)


__all__ = ["Handler", "Response", "SwitchyardApp", "create_app", "json_response", "to_openai_body", "NotFound"]
