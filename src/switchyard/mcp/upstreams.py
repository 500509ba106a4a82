"""The servers behind the hub, each held open by an SDK ``Client`` in a task of its own.

A ``ToolServer`` is connected once at start (its tools listed) and again after its
connection breaks (with a backoff up to 30 s); calls share its one session (JSON-RPC
multiplexes them). The target is a streamable-HTTP URL (its ``headers``, the gateway's
credentials for it, sent by the gateway's own HTTP client), a stdio command the
gateway starts, or an in-process SDK server (the built-ins). The SDK's task groups
are entered and left in that one task, whatever task starts or stops the hub.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from switchyard.core.config.mcp import UpstreamServer

log = logging.getLogger("switchyard.mcp")

#: Small requests go out at once (a request's head and body are two writes: without it, Nagle's
#: algorithm holds the body until the server's delayed ACK, up to 40 ms later).
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
MAX_TOOLS = 1000  # tools kept per server: a listing is paged at most this far
_BACKOFF_MAX = 30.0


class ServerDown(Exception):
    """The server is not connected (it failed to start or its connection broke)."""


class ToolServer:
    """One server behind the hub: ``start()``, ``tools``, ``call()``, ``aclose()``."""

    def __init__(self, name: str, target: Any, *, timeout: float, connect_timeout: float) -> None:
        self.name = name
        self.target = target  # a callable making the Client's server argument (a fresh transport each time)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.tools: dict[str, types.Tool] = {}
        self.client: Client | None = None
        self.last_error: str | None = None
        self._ready = asyncio.Event()
        self._broken = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, name: str, config: UpstreamServer) -> ToolServer:
        if config.url is not None:
            url = config.url
            headers = {k: v.get_secret_value() for k, v in config.headers.items()}

            def http() -> Any:
                client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(config.connect_timeout,
                                                                                     read=config.timeout + 5),
                                            transport=httpx2.AsyncHTTPTransport(socket_options=NODELAY))
                return _Owned(client, streamable_http_client(url, http_client=client))
            return cls(name, http, timeout=config.timeout, connect_timeout=config.connect_timeout)
        params = StdioServerParameters(command=config.command or "", args=list(config.args), cwd=config.cwd,
                                       env={k: v.get_secret_value() for k, v in config.env.items()} or None)
        return cls(name, lambda: params, timeout=config.timeout, connect_timeout=config.connect_timeout)

    @property
    def up(self) -> bool:
        return self.client is not None

    async def start(self) -> None:
        """Connect and list; returns when connected or after ``connect_timeout`` (still trying behind)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mcp-{self.name}")
        try:
            await asyncio.wait_for(self._ready.wait(), self.connect_timeout)
        except TimeoutError:
            log.warning("mcp_server_not_ready", extra={"server": self.name, "error": self.last_error})

    async def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                async with Client(self.target(), raise_exceptions=False, cache=None) as client:
                    async with asyncio.timeout(self.connect_timeout):
                        self.tools = await _list_all(client)
                    self.client, self.last_error, delay = client, None, 0.5
                    self._broken.clear()
                    self._ready.set()
                    log.info("mcp_server_connected", extra={"server": self.name, "tools": len(self.tools)})
                    stop = asyncio.ensure_future(self._stop.wait())
                    broken = asyncio.ensure_future(self._broken.wait())
                    await asyncio.wait((stop, broken), return_when=asyncio.FIRST_COMPLETED)
                    stop.cancel()
                    broken.cancel()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - the SDK raises exception groups from its task groups
                self.last_error = f"{type(exc).__name__}: {_first_line(exc)}"
                log.warning("mcp_server_down", extra={"server": self.name, "error": self.last_error})
            finally:
                self.client = None
            if self._stop.is_set():
                return
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except TimeoutError:
                delay = min(delay * 2, _BACKOFF_MAX)

    async def call(self, tool: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        """The server's answer; ``ServerDown`` when it is not connected, ``TimeoutError`` past
        ``timeout``, ``MCPError`` when it answers with a protocol error."""
        client = self.client
        if client is None:
            raise ServerDown(f"MCP server {self.name!r} is not connected"
                             + (f" ({self.last_error})" if self.last_error else ""))
        try:
            async with asyncio.timeout(self.timeout):
                return await client.call_tool(tool, arguments)
        except MCPError as exc:
            if exc.code != types.CONNECTION_CLOSED:
                raise  # the server's own answer
            self._broken.set()
            raise ServerDown(f"MCP server {self.name!r} closed the connection") from None
        except TimeoutError:
            raise
        except Exception as exc:
            self._broken.set()  # reconnect behind; this call fails
            raise ServerDown(f"MCP server {self.name!r} failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            except (TimeoutError, Exception):
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)


class _Owned:
    """A transport that also closes the HTTP client it was given (the SDK leaves a given one open)."""

    def __init__(self, client: httpx2.AsyncClient, transport: Any) -> None:
        self.client = client
        self.transport = transport

    async def __aenter__(self) -> Any:
        await self.client.__aenter__()
        try:
            return await self.transport.__aenter__()
        except BaseException:
            await self.client.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.transport.__aexit__(*exc)
        finally:
            await self.client.__aexit__(None, None, None)


async def _list_all(client: Client) -> dict[str, types.Tool]:
    tools: dict[str, types.Tool] = {}
    cursor: str | None = None
    while len(tools) < MAX_TOOLS:
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools[: MAX_TOOLS - len(tools)]:
            tools[tool.name] = tool
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _first_line(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
