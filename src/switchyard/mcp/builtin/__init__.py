"""The built-in external services, each an MCP server of the SDK's own kind, in-process,
behind the hub like any upstream (``calc``, ``fetch``, ``sql``, ``code``)::

    calc__evaluate(expression)   calc.py    a safe expression evaluator (no eval)
    fetch__get(url)              fetch.py   HTTP GET of allowed hosts, bounded in size and time
    sql__query(sql)              sql.py     read-only SQL, bounded in time and rows
    code__run_python(code)       code.py    Python without network, under CPU/memory/time/file limits (off by default)

A refused input is a tool error (``isError``) whose text names the field and the reason.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from switchyard.core.config.mcp import Builtins
from switchyard.mcp.upstreams import ToolServer


def builtin_servers(config: Builtins) -> dict[str, ToolServer]:
    """A ``ToolServer`` for each service the config turns on."""
    made: dict[str, tuple[MCPServer[Any], float]] = {}
    if config.calc is not None and config.calc.enabled:
        made["calc"] = (_calc(config), 5.0)
    if config.fetch is not None:
        made["fetch"] = (_fetch(config), config.fetch.timeout + 1)
    if config.sql is not None:
        made["sql"] = (_sql(config), config.sql.timeout + 5)
    if config.code is not None and config.code.enabled:
        made["code"] = (_code(config), config.code.timeout + 5)
    return {name: ToolServer(name, (lambda s=server: s), timeout=timeout, connect_timeout=5.0)
            for name, (server, timeout) in made.items()}


def _calc(config: Builtins) -> MCPServer[Any]:
    from switchyard.mcp.builtin.calc import Calculator, ExpressionError

    assert config.calc is not None
    calculator = Calculator(max_length=config.calc.max_length, max_power=config.calc.max_power)
    server: MCPServer[Any] = MCPServer("calc", log_level="WARNING")

    @server.tool(description="Evaluate an arithmetic expression: numbers, + - * / // % **, comparisons, "
                             "and/or/not, x if c else y, pi, e, and sqrt, log, sin, cos, min, max, round...")
    def evaluate(expression: str) -> float | int | bool:
        try:
            return calculator.evaluate(expression)
        except ExpressionError as exc:
            raise ToolError(str(exc)) from None

    return server


def _fetch(config: Builtins) -> MCPServer[Any]:
    from switchyard.mcp.builtin.fetch import Fetcher, FetchRefused

    assert config.fetch is not None
    fetcher = Fetcher(config.fetch)
    server: MCPServer[Any] = MCPServer("fetch", log_level="WARNING")

    @server.tool(description="HTTP GET a URL of an allowed host; answers status, content type and text.")
    async def get(url: str) -> dict[str, Any]:
        try:
            return await fetcher.get(url)
        except FetchRefused as exc:
            raise ToolError(str(exc)) from None

    return server


def _sql(config: Builtins) -> MCPServer[Any]:
    from switchyard.mcp.builtin.sql import QueryRefused, SqlRunner

    assert config.sql is not None
    runner = SqlRunner(config.sql)
    server: MCPServer[Any] = MCPServer("sql", log_level="WARNING")

    @server.tool(description="Run one read-only SQL statement; answers columns and rows (at most "
                             f"{config.sql.max_rows}; truncated says when there were more).")
    async def query(sql: str) -> dict[str, Any]:
        try:
            return await runner.query(sql)
        except QueryRefused as exc:
            raise ToolError(str(exc)) from None

    return server


def _code(config: Builtins) -> MCPServer[Any]:
    from switchyard.mcp.builtin.code import CodeRefused, CodeRunner

    assert config.code is not None
    runner = CodeRunner(config.code)  # NoSandbox when there is no network namespace: the gateway does not start
    server: MCPServer[Any] = MCPServer("code", log_level="WARNING")

    @server.tool(description="Run a Python program without network, under CPU, memory, time and file-size "
                             "limits; answers exit code, stdout and stderr.")
    async def run_python(code: str) -> dict[str, Any]:
        try:
            return await runner.run(code)
        except CodeRefused as exc:
            raise ToolError(str(exc)) from None

    return server
