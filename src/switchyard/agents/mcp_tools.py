"""An MCP server's tools as an agent's: with the official SDK, over streamable HTTP or stdio.

``MCPTools`` holds one connection to a server (the gateway's own ``ToolServer``: listed
once connected, reconnected with a backoff after it breaks) and offers its tools as a
``Toolset``. Point it at any MCP server, or at the gateway's MCP door (``<gateway>/mcp``
with a key: the gateway's tool access, rate limits and audit then apply)::

    async with MCPTools("weather", url="http://127.0.0.1:8000/mcp") as weather:
        agent = Agent("forecaster", model="chat", tools=[weather])

A tool's answer goes to the model as its text content (its structured content as JSON
when there is no text); an MCP error, a timeout or a server that is down is the tool's
error result, never the run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from switchyard.agents.tools import NAME, RunContext, Tool, ToolOutput
from switchyard.core.config.mcp import UpstreamServer
from switchyard.mcp.upstreams import ToolServer


class MCPTools:
    """An MCP server's tools (``prefix`` + the tool's name), a ``Toolset``; start it (``async with``)."""

    def __init__(self, name: str, *, url: str | None = None, headers: dict[str, str] | None = None,
                 command: str | None = None, args: list[str] | None = None, env: dict[str, str] | None = None,
                 timeout: float = 30.0, connect_timeout: float = 10.0, prefix: str | None = None,
                 approve: tuple[str, ...] = ()) -> None:
        config = UpstreamServer.model_validate({
            "url": url, "headers": headers or {}, "command": command, "args": args or [], "env": env or {},
            "timeout": timeout, "connect_timeout": connect_timeout})
        self.name = name
        self.server = ToolServer.from_config(name, config)
        self.prefix = f"{name}__" if prefix is None else prefix
        self.approve = frozenset(approve)

    async def start(self) -> MCPTools:
        """Connect and list (returns after ``connect_timeout`` at most; still trying behind)."""
        await self.server.start()
        return self

    async def aclose(self) -> None:
        await self.server.aclose()

    async def __aenter__(self) -> MCPTools:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def connected(self) -> bool:
        return self.server.up

    def list_tools(self) -> list[Tool]:
        tools: list[Tool] = []
        for tool in self.server.tools.values():
            name = f"{self.prefix}{tool.name}"
            if not NAME.match(name):
                continue  # a name no provider accepts
            tools.append(MCPTool(self, tool.name, name, tool.description or tool.title or tool.name,
                                 dict(tool.input_schema or {"type": "object"}), tool.name in self.approve))
        return tools


@dataclass(slots=True)
class MCPTool:
    """One tool of an MCP server."""

    source: MCPTools
    remote: str
    name: str
    description: str
    parameters: dict[str, Any]
    needs_approval: bool = False

    async def invoke(self, arguments: str, context: RunContext) -> ToolOutput:
        try:
            values = orjson.loads(arguments or "{}")
        except orjson.JSONDecodeError as exc:
            return ToolOutput(f"Invalid arguments for tool {self.name}: not JSON ({exc}).", True)
        if not isinstance(values, dict):
            return ToolOutput(f"Invalid arguments for tool {self.name}: must be a JSON object.", True)
        try:
            result = await self.source.server.call(self.remote, values)
        except TimeoutError:
            return ToolOutput(f"Error: the tool {self.name} did not answer within {self.source.server.timeout} s.",
                              True)
        except Exception as exc:  # noqa: BLE001 - ServerDown, MCPError: the model's to read
            return ToolOutput(f"Error: {type(exc).__name__}: {exc}", True)
        texts = [str(getattr(part, "text", "")) for part in result.content or () if getattr(part, "text", None)]
        if texts:
            text = "\n".join(texts)
        elif result.structured_content is not None:
            text = orjson.dumps(result.structured_content).decode()
        else:
            text = ""
        return ToolOutput(text, bool(result.is_error))
