"""The hub: one MCP server (the SDK's lowlevel ``Server``) over every server behind the gateway.

``tools/list`` is the union of the servers' tools, each named ``<server>__<tool>``,
filtered by what the caller may use. ``tools/call``, in order: may the caller use it
(``access.py``; a tool it may not use is refused whether or not it exists), does it
exist, are its arguments within ``mcp.max_argument_bytes``, is there room under its
rate limits (``limits.py``), does the guard let its arguments through (``guard/tools.py``,
when a guard policy applies: block, or secrets and personal data redacted); then the
server answers within its timeout, and its result goes through the same guard. Every call,
refused or not, leaves an audit entry (who, the tool, its arguments after redaction,
duration, outcome, what the guard found) and, with metrics on, a count and a duration.

The SDK serves it as stateless streamable HTTP with JSON answers (no session to keep:
any replica answers any request). ``asgi`` is what ``/mcp`` calls, after the gateway
authenticated the caller and put it on the scope.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import TYPE_CHECKING, Any

import mcp_types as types
import orjson
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from switchyard.core.config.mcp import McpConfig
from switchyard.guard.tools import CheckedCall, ToolGuard
from switchyard.mcp.access import ToolPolicy, join, split
from switchyard.mcp.builtin import builtin_servers
from switchyard.mcp.limits import ToolLimits
from switchyard.mcp.redact import audited_arguments
from switchyard.mcp.refusals import ToolRefused
from switchyard.mcp.upstreams import ServerDown, ToolServer

if TYPE_CHECKING:
    from switchyard.audit.log import AuditLog
    from switchyard.observe.metrics import Metrics

log = logging.getLogger("switchyard.mcp")

#: Where ``/mcp`` puts the authenticated caller on the ASGI scope.
CALLER = "switchyard.caller"
OTHER = "other"


class Hub:
    """The MCP gateway of one process: ``start()``, ``asgi(scope, receive, send)``, ``aclose()``."""

    def __init__(self, config: McpConfig, *, limits_backend: Any, open_gateway: bool, max_body: int,
                 audit: AuditLog | None = None, metrics: Metrics | None = None,
                 guard: ToolGuard | None = None) -> None:
        self.config = config
        self.guard = guard
        # The SDK logs every stateless request at info ("Terminating session"): a line per call, and
        # the cost of one. Its warnings and errors still reach the gateway's log.
        # httpx2 (the SDK's HTTP client) likewise logs every upstream request at info.
        for name in ("mcp", "httpx2"):
            chatty = logging.getLogger(name)
            if chatty.getEffectiveLevel() < logging.WARNING:
                chatty.setLevel(logging.WARNING)
        self.servers: dict[str, ToolServer] = {
            name: ToolServer.from_config(name, server) for name, server in config.servers.items()}
        self.servers.update(builtin_servers(config.builtins))
        self.policy = ToolPolicy(config.access, open_gateway=open_gateway)
        self.limits = ToolLimits(config.rate_limits, limits_backend)
        self.audit = audit
        self.metrics = metrics
        self.server: Server[Any] = Server("switchyard", version="1", on_list_tools=self._list_tools,
                                          on_call_tool=self._call_tool)
        self.manager = StreamableHTTPSessionManager(self.server, stateless=True, json_response=True,
                                                    max_request_body_size=max_body)
        self._stop = asyncio.Event()
        self._running: asyncio.Task[None] | None = None

    # -- lifetime ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect every server (at most each one's ``connect_timeout``) and start serving."""
        await asyncio.gather(*(server.start() for server in self.servers.values()))
        ready = asyncio.Event()
        self._running = asyncio.get_running_loop().create_task(self._serve(ready), name="mcp-hub")
        await ready.wait()

    async def _serve(self, ready: asyncio.Event) -> None:
        async with self.manager.run():  # entered and left in this one task, as the SDK's task group needs
            ready.set()
            await self._stop.wait()

    async def aclose(self) -> None:
        self._stop.set()
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        await asyncio.gather(*(server.aclose() for server in self.servers.values()), return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {name: {"connected": s.up, "tools": len(s.tools), **({"error": s.last_error} if s.last_error else {})}
                for name, s in self.servers.items()}

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.manager.handle_request(scope, receive, send)

    # -- the protocol's two methods ---------------------------------------------------------------
    async def _list_tools(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        patterns = self.policy.patterns(_caller(ctx))
        tools = []
        for server in self.servers.values():
            for name, tool in server.tools.items():
                full = join(server.name, name)
                if self.policy.allows(patterns, full):
                    tools.append(tool.model_copy(update={"name": full}))
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = _caller(ctx)
        started = perf_counter()
        name, arguments = params.name, params.arguments
        server_label = tool_label = OTHER
        outcome, detail_error = "ok", None
        checked: CheckedCall | None = None
        try:
            if not self.policy.allows(self.policy.patterns(caller), name):
                raise ToolRefused("forbidden", f"This key may not use the tool `{name}` (mcp.access).")
            parts = split(name)
            server = self.servers.get(parts[0]) if parts is not None else None
            if parts is None or server is None or parts[1] not in server.tools:
                raise ToolRefused("unknown_tool", f"Unknown tool `{name}`: params.name must be one that tools/list "
                                                  "names (`<server>__<tool>`).")
            server_label, tool_label = server.name, parts[1]
            size = len(orjson.dumps(arguments)) if arguments else 0
            if size > self.config.max_argument_bytes:
                raise ToolRefused("arguments_too_large", f"params.arguments is {size} bytes as JSON; the limit is "
                                  f"{self.config.max_argument_bytes} (mcp.max_argument_bytes).")
            await self.limits.check(caller, name)
            if self.guard is not None:
                try:
                    checked = self.guard.check(caller)
                except ToolRefused:
                    arguments = None  # nothing could be checked: the audit keeps none of them
                    raise
            if checked is not None:
                try:
                    arguments = await checked.check_arguments(arguments)
                finally:
                    arguments = checked.arguments  # refused: what the audit may keep of them
            try:
                result = await server.call(parts[1], arguments)
            except TimeoutError:
                raise ToolRefused("timeout", f"`{name}` did not answer within {server.timeout:g} s "
                                  f"(mcp.servers.{server.name}.timeout).") from None
            except ServerDown as exc:
                raise ToolRefused("unavailable", str(exc)) from None
            if result.is_error:
                outcome = "error"
            if checked is not None:
                result = await checked.check_result(result)
            return result
        except ToolRefused as refused:
            outcome, detail_error = refused.reason, refused.message
            raise MCPError(refused.jsonrpc_code, refused.message, refused.data()) from None
        except MCPError as exc:  # the server's own protocol error, passed on
            outcome, detail_error = "failed", exc.message
            raise
        finally:
            seconds = perf_counter() - started
            if self.metrics is not None:
                self.metrics.tool_call(server_label, tool_label, outcome, seconds)
            if self.audit is not None:
                detail: dict[str, Any] = {
                    "server": server_label, "tool": tool_label, "arguments": audited_arguments(arguments),
                    "outcome": outcome, "duration_ms": round(seconds * 1000.0, 2)}
                if detail_error is not None:
                    detail["error"] = detail_error
                if checked is not None and checked.found:
                    detail["guard"] = {"policy": checked.policy.name, "detections": dict(sorted(checked.found.items()))}
                if getattr(caller, "key_id", None):
                    detail["key_id"] = caller.key_id
                await self.audit.tool_call(caller.name, name, detail)



def _caller(ctx: Any) -> Any:
    request = getattr(ctx, "request", None)
    caller = request.scope.get(CALLER) if request is not None else None
    if caller is None:
        refused = ToolRefused("unauthenticated", "No caller: the MCP endpoint is served at /mcp only.")
        raise MCPError(refused.jsonrpc_code, refused.message, refused.data())
    return caller
