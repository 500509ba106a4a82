"""The gateway's built-in external services as tools, in-process: ``fetch__get`` (HTTP GET of
allowed hosts), ``sql__query`` (read-only SQL) and ``calc__evaluate`` — the same code and the
same bounds as behind the MCP gateway (``mcp/builtin``), configured the same way::

    tools = service_tools(Builtins(sql={"url": "postgresql://…"}, fetch={"allow_hosts": ["127.0.0.1:8000"]}))

A refused input (a host not allowed, a write in the SQL) is the tool's error result.
"""

from __future__ import annotations

from typing import Any

from switchyard.agents.tools import FunctionTool, Tool, function_tool
from switchyard.core.config.mcp import Builtins, FetchService, SqlService


def fetch_tool(config: FetchService) -> FunctionTool:
    from switchyard.mcp.builtin.fetch import Fetcher

    fetcher = Fetcher(config)

    async def get(url: str) -> dict[str, Any]:
        """HTTP GET a URL of an allowed host; answers status, content type and text.

        Args:
            url: the http(s) URL to fetch
        """
        return await fetcher.get(url)

    return function_tool(get, name="fetch__get")


def sql_tool(config: SqlService) -> FunctionTool:
    from switchyard.mcp.builtin.sql import SqlRunner

    runner = SqlRunner(config)

    async def query(sql: str) -> dict[str, Any]:
        return await runner.query(sql)

    return function_tool(query, name="sql__query", description=(
        f"Run one read-only SQL statement; answers columns and rows (at most {config.max_rows}; truncated "
        "says when there were more). Writes are refused by the database."))


def calc_tool(max_length: int = 1000, max_power: int = 10_000) -> FunctionTool:
    from switchyard.mcp.builtin.calc import Calculator

    calculator = Calculator(max_length=max_length, max_power=max_power)

    def evaluate(expression: str) -> float | int | bool:
        return calculator.evaluate(expression)

    return function_tool(evaluate, name="calc__evaluate", description=(
        "Evaluate an arithmetic expression: numbers, + - * / // % **, comparisons, and/or/not, "
        "x if c else y, pi, e, and sqrt, log, sin, cos, min, max, round..."))


def service_tools(config: Builtins | dict[str, Any]) -> list[Tool]:
    """A tool for each service ``config`` turns on (the config's ``mcp.builtins`` shape)."""
    builtins = config if isinstance(config, Builtins) else Builtins.model_validate(config)
    tools: list[Tool] = []
    if builtins.calc is not None and builtins.calc.enabled:
        tools.append(calc_tool(builtins.calc.max_length, builtins.calc.max_power))
    if builtins.fetch is not None:
        tools.append(fetch_tool(builtins.fetch))
    if builtins.sql is not None:
        tools.append(sql_tool(builtins.sql))
    return tools
