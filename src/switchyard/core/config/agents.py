"""Config for agents (``agents:``): the tools they may use, their session memory, and each
agent by name. Absent, nothing of it exists and no agent module is imported.

``agents.tools`` names where tools come from — the built-in services (``services``, the
``mcp.builtins`` shape: ``calc__evaluate``, ``fetch__get``, ``sql__query``), MCP servers
(``mcp``: ``<server>__<tool>``) and Python functions (``python``: name -> ``module:attribute``).
An agent's ``tools`` are names or ``fnmatch`` patterns over those.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from switchyard.core.config.base import Strict
from switchyard.core.config.mcp import SERVER_NAME, Builtins, UpstreamServer

AGENT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class AgentLimitsConfig(Strict):
    """A run's bounds (``agents/limits.py``)."""

    max_turns: int = Field(default=10, ge=1, le=1000, description="model calls a run may make")
    max_tool_calls: int = Field(default=100, ge=1, le=100_000)
    max_tokens: int | None = Field(default=None, ge=1)
    max_usd: float | None = Field(default=None, gt=0, description="the gateway's price of the run's model calls")
    max_seconds: float | None = Field(default=None, gt=0, le=86_400)
    approval_timeout: float = Field(default=3600.0, gt=0, le=30 * 86_400, description="s a call waits for approval")


class SummaryConfig(Strict):
    """``memory: summary``: the session is kept within ``max_tokens`` (the gateway's tokenizer)."""

    model: str = Field(description="the alias that writes the summaries")
    max_tokens: int = Field(ge=64, le=10_000_000)
    keep_tokens: int | None = Field(default=None, ge=1, description="newest tokens kept as they are (half by default)")


class AgentConfig(Strict):
    """One agent."""

    model: str = Field(min_length=1, description="a model alias")
    instructions: str = ""
    description: str = Field(default="", description="what other agents see of it (handoffs, agents as tools)")
    tools: list[str] = Field(default_factory=list, description="tool names or patterns from agents.tools")
    handoffs: list[str] = Field(default_factory=list, description="agents it may hand the conversation to")
    agent_tools: list[str] = Field(default_factory=list, description="agents it may ask, as tools")
    approve: list[str] = Field(default_factory=list, description="tools (patterns) that wait for a person's approval")
    memory: Literal["none", "session", "summary"] = "none"
    summary: SummaryConfig | None = None
    limits: AgentLimitsConfig = Field(default_factory=AgentLimitsConfig)
    model_settings: dict[str, Any] = Field(default_factory=dict, description="chat parameters: temperature...")

    @model_validator(mode="after")
    def _summary_when_summarising(self) -> AgentConfig:
        if self.memory == "summary" and self.summary is None:
            raise ValueError("memory: summary needs the summary: section (model, max_tokens)")
        for reserved in ("model", "messages", "stream", "tools", "response_format"):
            if reserved in self.model_settings:
                raise ValueError(f"model_settings.{reserved}: set by the agent, not a setting")
        return self


class AgentToolsConfig(Strict):
    """Where agents' tools come from."""

    services: Builtins = Field(default_factory=Builtins, description="calc, fetch, sql (code is the MCP gateway's)")
    mcp: dict[str, UpstreamServer] = Field(default_factory=dict, description="server name -> MCP server")
    python: dict[str, str] = Field(default_factory=dict, description="tool name -> module:attribute")

    @field_validator("mcp")
    @classmethod
    def _server_names(cls, value: dict[str, UpstreamServer]) -> dict[str, UpstreamServer]:
        for name in value:
            if not SERVER_NAME.match(name):
                raise ValueError(f"{name!r}: letters, digits, '-' and single '_'")
        return value

    @field_validator("python")
    @classmethod
    def _import_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if not AGENT_NAME.match(name):
                raise ValueError(f"{name!r}: a tool name is 1-64 letters, digits, '_' or '-'")
            if not IMPORT_PATH.match(path):
                raise ValueError(f"{name}: {path!r} is not module:attribute")
        return value


class SessionsConfig(Strict):
    """Session memory, kept in the durable store (``storage.url``)."""

    max_messages: int = Field(default=200, ge=2, le=100_000)
    ttl: float | None = Field(default=30 * 86_400.0, gt=0, description="s a session is kept after its last write")


class AgentsConfig(Strict):
    """``agents:`` — the agents ``switchyard agent run`` and ``POST /v1/agents/{name}`` run."""

    tools: AgentToolsConfig = Field(default_factory=AgentToolsConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    named: dict[str, AgentConfig] = Field(default_factory=dict, description="agent name -> agent")

    @model_validator(mode="after")
    def _references(self) -> AgentsConfig:
        for name, agent in self.named.items():
            if not AGENT_NAME.match(name):
                raise ValueError(f"named.{name}: an agent name is 1-64 letters, digits, '_' or '-'")
            for field in ("handoffs", "agent_tools"):
                for other in getattr(agent, field):
                    if other not in self.named:
                        raise ValueError(f"named.{name}.{field}: no agent named {other!r}")
                    if other == name:
                        raise ValueError(f"named.{name}.{field}: an agent cannot name itself")
        _no_cycle(self.named)
        return self


def _no_cycle(named: dict[str, AgentConfig]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError("named: agents refer to each other in a cycle: " + " -> ".join([*path, name]))
        state[name] = 1
        agent = named[name]
        for other in [*agent.handoffs, *agent.agent_tools]:
            visit(other, [*path, name])
        state[name] = 2

    for name in named:
        visit(name, [])
