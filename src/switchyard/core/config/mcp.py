"""Config for the MCP gateway (``mcp:``): upstream MCP servers, the built-in services,
who may use which tools, and per-tool rate limits.

Absent, nothing of it exists and the ``mcp`` SDK is never imported. Tool names are
namespaced ``<server>__<tool>``; access rules and limits name tools by ``fnmatch``
patterns over those names (``weather__*`` is every tool of ``weather``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from switchyard.core.config.base import Strict
from switchyard.core.config.guard import PolicyName

#: ``<server>__<tool>``: a server's name is letters, digits, ``-`` and single ``_``.
SERVER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*$")
SEPARATOR = "__"
BUILTIN_NAMES = ("calc", "fetch", "sql", "code")


class UpstreamServer(Strict):
    """One upstream MCP server: over streamable HTTP (``url``), or a local command the
    gateway starts and speaks to over stdio (``command``). ``headers`` and ``env`` hold
    its credentials: secrets, sent to it and never to clients or the logs."""

    url: str | None = Field(default=None, description="http(s)://host[:port]/path of a streamable-HTTP server")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Sent with every request; secrets")
    command: str | None = Field(default=None, description="A stdio server: the executable the gateway starts")
    args: list[str] = Field(default_factory=list)
    env: dict[str, SecretStr] = Field(default_factory=dict, description="Its environment (beside PATH, HOME...)")
    cwd: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=3600, description="s a tool call may take")
    connect_timeout: float = Field(default=10.0, gt=0, le=600, description="s to connect and list its tools")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> UpstreamServer:
        if (self.url is None) == (self.command is None):
            raise ValueError("set exactly one of url (streamable HTTP) and command (stdio)")
        if self.url is None and self.headers:
            raise ValueError("headers are for url servers; a stdio server takes env")
        return self


class CalcService(Strict):
    """The safe expression evaluator (``calc__evaluate``): arithmetic, comparisons, a few math functions."""

    enabled: bool = True
    max_length: int = Field(default=1000, ge=1, le=100_000, description="characters of an expression")
    max_power: int = Field(default=10_000, ge=1, le=1_000_000, description="the largest exponent allowed")


class FetchService(Strict):
    """HTTP GET (``fetch__get``) of hosts on an allow-list only, bounded in size and time."""

    allow_hosts: list[str] = Field(min_length=1, description="host or host:port; nothing else is fetched")
    max_bytes: int = Field(default=1_048_576, ge=1, le=100 * 1_048_576, description="a larger body is refused")
    timeout: float = Field(default=10.0, gt=0, le=300, description="s for the whole fetch")

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not host or "/" in host or "@" in host or host != host.strip():
                raise ValueError(f"{host!r} is not a host or host:port")
        return [h.lower() for h in value]


class SqlService(Strict):
    """Read-only SQL (``sql__query``) against one database: read-only is the connection's
    (SQLite ``mode=ro``, PostgreSQL read-only transactions), never a string check."""

    url: SecretStr = Field(description="sqlite:///path or postgresql://user@host/db; a secret")
    timeout: float = Field(default=5.0, gt=0, le=600, description="s a statement may run")
    max_rows: int = Field(default=1000, ge=1, le=1_000_000, description="rows returned at most (the rest cut)")
    max_length: int = Field(default=20_000, ge=1, le=1_000_000, description="characters of a query")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///path or postgresql://…")  # never echoed: it may hold a password
        return value


class CodeService(Strict):
    """The code runner (``code__run_python``): a subprocess without network, under CPU,
    memory, time and file-size limits. Off unless ``enabled``; it refuses to start
    where no network namespace can be made."""

    enabled: bool = False
    python: str | None = Field(default=None, description="the interpreter (default: the gateway's own)")
    cpu_seconds: int = Field(default=2, ge=1, le=600)
    memory_mb: int = Field(default=256, ge=16, le=65_536)
    timeout: float = Field(default=5.0, gt=0, le=600, description="s of wall time")
    file_size_bytes: int = Field(default=1_048_576, ge=0, le=1 << 34, description="largest file it may write")
    max_output_bytes: int = Field(default=65_536, ge=1, le=16 * 1_048_576, description="stdout/stderr kept")
    max_code_bytes: int = Field(default=100_000, ge=1, le=16 * 1_048_576)


class Builtins(Strict):
    """The built-in external services, each a server of its own name (``calc``, ``fetch``, ``sql``, ``code``)."""

    calc: CalcService | None = None
    fetch: FetchService | None = None
    sql: SqlService | None = None
    code: CodeService | None = None


class ToolAccess(Strict):
    """Which tools a caller may list and call: the union of ``default`` and the patterns of
    its key's name, its team and each of its tags. The master key (and an open gateway,
    auth off) may use every tool."""

    default: list[str] = Field(default_factory=list, description="patterns every authenticated key may use")
    keys: dict[str, list[str]] = Field(default_factory=dict, description="key name -> patterns")
    teams: dict[str, list[str]] = Field(default_factory=dict, description="team name -> patterns")
    tags: dict[str, list[str]] = Field(default_factory=dict, description="key tag -> patterns")


class ToolLimit(Strict):
    """At most ``rpm`` calls a minute of the tools matching ``tool``, per key (``per: key``) or in all."""

    tool: str = Field(description="a pattern over namespaced tool names")
    rpm: int = Field(ge=1, le=10_000_000)
    per: Literal["key", "global"] = "key"


class McpConfig(Strict):
    """The MCP gateway at ``/mcp``: the servers behind it and the rules in front."""

    servers: dict[str, UpstreamServer] = Field(default_factory=dict)
    builtins: Builtins = Field(default_factory=Builtins)
    access: ToolAccess = Field(default_factory=ToolAccess)
    rate_limits: list[ToolLimit] = Field(default_factory=list)
    max_argument_bytes: int = Field(default=1_048_576, ge=1, le=64 * 1_048_576,
                                    description="a tool call's arguments, as JSON")
    guard: PolicyName | None = Field(default=None, description="The guard policy of tool arguments and results "
                                     "for callers naming none (guard.policies; `off`: none; default: guard.default)")

    @field_validator("servers")
    @classmethod
    def _names(cls, value: dict[str, UpstreamServer]) -> dict[str, UpstreamServer]:
        for name in value:
            if not SERVER_NAME.match(name):
                raise ValueError(f"server name {name!r}: letters, digits, '-' and single '_' only")
            if name in BUILTIN_NAMES:
                raise ValueError(f"server name {name!r} is a built-in service's (under builtins:)")
        return value
