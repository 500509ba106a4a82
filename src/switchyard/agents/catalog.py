"""The agents of the config (``agents:``), built once: their tools resolved by name, MCP
servers connected, session memory on the durable store.

``AgentCatalog.start(client, store)`` builds every agent (handoffs and agents-as-tools
first: the config refuses cycles), connects the MCP servers of ``agents.tools.mcp``, and
imports the Python tools; ``get(name)`` hands one out; ``aclose()`` disconnects. The CLI
(``switchyard agent run``) and the HTTP route (``POST /v1/agents/{name}``) share it.
"""

from __future__ import annotations

import fnmatch
import importlib
from typing import Any

from switchyard.agents.agent import Agent
from switchyard.agents.limits import Limits
from switchyard.agents.mcp_tools import MCPTools
from switchyard.agents.memory import Memory, SessionMemory
from switchyard.agents.services import service_tools
from switchyard.agents.summary import SummarisingMemory
from switchyard.agents.tools import Tool, function_tool
from switchyard.core.config.agents import AgentConfig, AgentsConfig


class AgentNotFound(KeyError):
    """No agent of that name in ``agents.named``."""


class AgentCatalog:
    """Every configured agent, by name."""

    def __init__(self, config: AgentsConfig) -> None:
        self.config = config
        self.toolsets: dict[str, MCPTools] = {}
        self.agents: dict[str, Agent] = {}
        self._tools: dict[str, Tool] = {}

    async def start(self, client: Any, store: Any) -> AgentCatalog:
        """Build the agents over ``client`` (model calls, summaries) and ``store`` (sessions)."""
        config = self.config
        self._tools = {t.name: t for t in service_tools(config.tools.services)}
        for name, path in config.tools.python.items():
            self._tools[name] = _python_tool(name, path)
        try:
            for name, server in config.tools.mcp.items():
                toolset = MCPTools(name, url=server.url,
                                   headers={k: v.get_secret_value() for k, v in server.headers.items()},
                                   command=server.command, args=list(server.args),
                                   env={k: v.get_secret_value() for k, v in server.env.items()},
                                   timeout=server.timeout, connect_timeout=server.connect_timeout)
                self.toolsets[name] = toolset
                await toolset.start()
            sessions = SessionMemory(store, max_messages=config.sessions.max_messages, ttl=config.sessions.ttl) \
                if store is not None else None
            for name in _in_dependency_order(config.named):
                self.agents[name] = self._build(name, config.named[name], client, sessions)
        except BaseException:
            await self.aclose()
            raise
        return self

    def get(self, name: str) -> Agent:
        agent = self.agents.get(name)
        if agent is None:
            known = ", ".join(sorted(self.agents)) or "none"
            raise AgentNotFound(f"No agent named {name!r}; the agents are: {known}.")
        return agent

    def names(self) -> list[str]:
        return sorted(self.agents)

    async def aclose(self) -> None:
        for toolset in self.toolsets.values():
            await toolset.aclose()
        self.toolsets.clear()

    def _build(self, name: str, spec: AgentConfig, client: Any, sessions: SessionMemory | None) -> Agent:
        where = f"agents.named.{name}"
        tools: list[Any] = []
        static_names = list(self._tools)
        for pattern in spec.tools:
            server = pattern.split("__", 1)[0] if "__" in pattern else None
            matched = [self._tools[n] for n in static_names if fnmatch.fnmatchcase(n, pattern)]
            if server in self.toolsets:
                tools.append(_Filtered(self.toolsets[server], pattern))
            elif not matched:
                raise ValueError(f"{where}.tools: {pattern!r} names no tool of agents.tools")
            tools.extend(t for t in matched if t not in tools)
        tools.extend(self.agents[other].as_tool() for other in spec.agent_tools)
        memory: Memory | None = None
        if spec.memory != "none":
            if sessions is None:
                raise ValueError(f"{where}.memory: needs a store for sessions (storage.url)")
            memory = sessions
            if spec.memory == "summary" and spec.summary is not None:
                memory = SummarisingMemory(sessions, client=client, model=spec.summary.model,
                                           max_tokens=spec.summary.max_tokens, keep_tokens=spec.summary.keep_tokens)
        approve = [t.name for t in tools if isinstance(t, Tool) and
                   any(fnmatch.fnmatchcase(t.name, p) for p in spec.approve)]
        for toolset in (t for t in tools if isinstance(t, _Filtered)):
            toolset.approve = tuple(spec.approve)
        limits = Limits(**spec.limits.model_dump())
        try:
            return Agent(name, model=spec.model, instructions=spec.instructions, description=spec.description,
                         tools=tools, handoffs=[self.agents[o] for o in spec.handoffs], memory=memory,
                         limits=limits, client=client, model_settings=spec.model_settings, approve=approve)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


class _Filtered:
    """The tools of an MCP server whose names match a pattern (a ``Toolset``)."""

    def __init__(self, toolset: MCPTools, pattern: str) -> None:
        self.toolset = toolset
        self.pattern = pattern
        self.approve: tuple[str, ...] = ()

    def list_tools(self) -> list[Tool]:
        tools = []
        for tool in self.toolset.list_tools():
            if fnmatch.fnmatchcase(tool.name, self.pattern):
                if any(fnmatch.fnmatchcase(tool.name, p) for p in self.approve):
                    tool.needs_approval = True
                tools.append(tool)
        return tools


def _python_tool(name: str, path: str) -> Tool:
    module_name, _, attribute = path.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"agents.tools.python.{name}: cannot import {path!r} ({exc})") from None
    if isinstance(target, Tool):
        if target.name != name:
            raise ValueError(f"agents.tools.python.{name}: {path!r} is the tool {target.name!r}; name it so")
        return target
    if not callable(target):
        raise ValueError(f"agents.tools.python.{name}: {path!r} is neither a tool nor a function")
    return function_tool(target, name=name)


def _in_dependency_order(named: dict[str, AgentConfig]) -> list[str]:
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        for other in [*named[name].handoffs, *named[name].agent_tools]:
            visit(other)
        done.append(name)

    for name in named:
        visit(name)
    return done
