"""``/mcp``: the MCP gateway's endpoint (streamable HTTP), in front of the gateway's own routes.

Mounted only when the config has ``mcp:`` (``SwitchyardApp`` wraps its HTTP handler with
``McpMount``; without it nothing here runs, not even the path check). The caller is
authenticated with the gateway's keys (master, static and virtual keys) exactly as on
``/v1``; a virtual key limited to some ``routes`` needs ``/mcp`` among them. Then the
hub (``mcp/hub.py``, the SDK's own streamable-HTTP app) answers, with the caller on
the ASGI scope. Every request gets an access line.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import orjson

from switchyard.core.errors import ServiceUnavailable, SwitchyardError, to_openai_body

PATH = "/mcp"


class McpMount:
    """An ASGI HTTP handler: ``/mcp`` to the hub, anything else to ``inner``."""

    def __init__(self, app: Any, inner: Any) -> None:
        self.app = app
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path != PATH and path != PATH + "/":
            await self.inner(scope, receive, send)
            return
        from switchyard.mcp.hub import CALLER

        app = self.app
        started = perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id")
        if not request_id or len(request_id) > 128 or not request_id.isprintable():
            request_id = app.request_ids()
        rid = request_id.encode("latin-1")
        status = [0]

        async def tracked(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid)]}
            await send(message)

        try:
            services = app.client.services
            if services is None or services.mcp is None:
                raise ServiceUnavailable("The gateway is starting or stopping.")
            caller = services.auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))
            if caller.routes is not None:
                caller.check_route(PATH)
        except SwitchyardError as exc:
            extra = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            await send({"type": "http.response.start", "status": exc.status,
                        "headers": [(b"content-type", b"application/json"), (b"x-request-id", rid), *extra]})
            await send({"type": "http.response.body", "body": orjson.dumps(to_openai_body(exc))})
            app.access.write(scope["method"], path, request_id, None, exc.status, started, exc)
            return
        await services.mcp.asgi({**scope, CALLER: caller}, receive, tracked)
        app.access.write(scope["method"], path, request_id, None, status[0] or 500, started, None)
