"""Who may use which tool: patterns over namespaced tool names (``server__tool``)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from switchyard.core.config.mcp import SEPARATOR, ToolAccess


def split(name: str) -> tuple[str, str] | None:
    """``("server", "tool")`` of a namespaced name, None when it has no server part."""
    server, sep, tool = name.partition(SEPARATOR)
    return (server, tool) if sep and server and tool else None


def join(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{tool}"


class ToolPolicy:
    """A caller's allowed tools: ``default`` plus its key name's, team's and tags' patterns.
    The master key, and every caller of a gateway without auth, may use all."""

    def __init__(self, config: ToolAccess, *, open_gateway: bool) -> None:
        self.config = config
        self.open = open_gateway

    def patterns(self, caller: Any) -> tuple[str, ...] | None:
        """The caller's patterns; None means every tool."""
        if self.open or getattr(caller, "is_master", False):
            return None
        c = self.config
        out = list(c.default)
        out += c.keys.get(caller.name, ())
        if caller.team is not None:
            out += c.teams.get(caller.team, ())
        for tag in caller.tags:
            out += c.tags.get(tag, ())
        return tuple(out)

    @staticmethod
    def allows(patterns: tuple[str, ...] | None, name: str) -> bool:
        return patterns is None or any(fnmatchcase(name, p) for p in patterns)
