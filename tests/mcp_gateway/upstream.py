"""A real MCP server of the SDK (its ``MCPServer``), as the gateway's upstream in tests.

Over streamable HTTP on loopback (``UpstreamThread``, uvicorn in a thread, requiring the
gateway's credential for it), or over stdio: ``python -m tests.mcp_gateway.upstream``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer

from switchyard.server.runner import bind

UPSTREAM_TOKEN = "upstream-secret-0123456789"


def weather_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("weather")

    @server.tool(description="The forecast for a city.")
    def forecast(city: str, api_key: str = "") -> str:
        return f"sunny in {city}"

    @server.tool(description="Who to write to (an answer holding personal data).")
    def contact(team: str) -> str:
        return f"write to {team}-lead@example.com or call +44 20 7946 0958"

    @server.tool(description="Add two numbers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Answers after `seconds` (a slow upstream).")
    async def wait(seconds: float) -> str:
        await anyio.sleep(seconds)
        return "done"

    @server.tool(description="Something only admins may call.")
    def wipe() -> str:
        return "wiped"

    return server


class _RequireToken:
    """Refuses every request without the gateway's credential for this upstream."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != f"Bearer {UPSTREAM_TOKEN}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


class UpstreamThread:
    """The weather server over streamable HTTP at ``self.url`` (…/mcp)."""

    def __init__(self, port: int = 0) -> None:
        app = _RequireToken(weather_server().streamable_http_app(stateless_http=True, json_response=True))
        self._sock = bind("127.0.0.1", port)
        host, port = self._sock.getsockname()[:2]
        self.url = f"http://{host}:{port}/mcp"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=lambda: self._server.run(sockets=[self._sock]), daemon=True)

    def __enter__(self) -> UpstreamThread:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("upstream MCP server did not start")
            self._thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def files_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("files")

    @server.tool(description="Echo back the text.")
    def echo(text: str) -> str:
        return f"echo: {text}"

    return server


if __name__ == "__main__":  # the stdio server the gateway starts
    if len(sys.argv) > 1 and sys.argv[1] == "files":
        files_server().run("stdio")
