"""Toolsets: tools that are known only at run time (an MCP server's, listed when it connects).

An agent's ``tools`` may hold toolsets beside tools; a toolset's tools are asked for at
every model call (``list_tools``), so a server that reconnects with new tools is seen.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from switchyard.agents.tools import Tool


@runtime_checkable
class Toolset(Protocol):
    """A source of tools asked at each model call."""

    def list_tools(self) -> list[Tool]:
        ...
