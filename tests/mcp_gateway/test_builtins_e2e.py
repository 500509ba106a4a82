"""The built-in services through the same door: /mcp, the gateway's keys, the SDK's client."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from switchyard.core.config import ConfigError, parse_config
from switchyard.server.runner import GatewayThread
from tests.mcp_gateway.conftest import MASTER, READER, mcp_client
from tests.mcp_gateway.test_fetch import site  # noqa: F401 - the loopback site fixture


@pytest.fixture(scope="module")
def gateway(site, tmp_path_factory) -> Iterator[GatewayThread]:  # noqa: F811
    path = tmp_path_factory.mktemp("sql") / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (name TEXT, price REAL)")
        db.executemany("INSERT INTO items VALUES (?, ?)", [("tea", 3.5), ("cake", 4.25)])
    config = {
        "auth": {"master_key": MASTER, "keys": [{"key": READER, "name": "reader", "team": "ml"}]},
        "models": {"fake/echo": {"deployments": [{"provider": "fake", "model": "echo"}]}},
        "logging": {"access_log": False},
        "mcp": {
            "builtins": {"calc": {}, "fetch": {"allow_hosts": [site], "timeout": 2},
                         "sql": {"url": f"sqlite:///{path}"}, "code": {"enabled": True, "timeout": 10}},
            "access": {"teams": {"ml": ["calc__*", "sql__*"]}},
        },
    }
    with GatewayThread(config) as gw:
        yield gw


async def test_each_service_answers_through_mcp(gateway, site):  # noqa: F811
    async with mcp_client(gateway.url, MASTER) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        page = await client.call_tool("fetch__get", {"url": f"http://{site}/hello"})
        refused = await client.call_tool("fetch__get", {"url": "http://example.com/"})
        rows = await client.call_tool("sql__query", {"sql": "SELECT name, price FROM items ORDER BY price"})
        write = await client.call_tool("sql__query", {"sql": "DELETE FROM items"})
        ran = await client.call_tool("code__run_python", {"code": "print(6 * 7)"})
    assert names == {"calc__evaluate", "fetch__get", "sql__query", "code__run_python"}
    assert page.structured_content["text"] == "hello from loopback"
    assert refused.is_error and "not on mcp.builtins.fetch.allow_hosts" in refused.content[0].text
    assert rows.structured_content["rows"] == [["tea", 3.5], ["cake", 4.25]]
    assert write.is_error and "readonly database" in write.content[0].text
    assert ran.structured_content["stdout"] == "42\n" and ran.structured_content["exit_code"] == 0


async def test_access_applies_to_builtins(gateway):
    async with mcp_client(gateway.url, READER) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == {"calc__evaluate", "sql__query"}


@pytest.mark.parametrize(("mcp", "path", "reason"), [
    ({"servers": {"a": {}}}, "mcp.servers.a", "set exactly one of url"),
    ({"servers": {"a": {"url": "http://x/mcp", "command": "x"}}}, "mcp.servers.a", "set exactly one of url"),
    ({"servers": {"a": {"url": "ftp://x"}}}, "mcp.servers.a.url", "must start with http"),
    ({"servers": {"a__b": {"url": "http://x/mcp"}}}, "mcp.servers", "single '_'"),
    ({"servers": {"calc": {"url": "http://x/mcp"}}}, "mcp.servers", "built-in service"),
    ({"builtins": {"fetch": {"allow_hosts": []}}}, "mcp.builtins.fetch.allow_hosts", "at least 1"),
    ({"builtins": {"sql": {"url": "mysql://x"}}}, "mcp.builtins.sql.url", "sqlite:///path or postgresql"),
    ({"rate_limits": [{"tool": "a__*", "rpm": 0}]}, "mcp.rate_limits[0].rpm", "greater than or equal to 1"),
    ({"servers": {"a": {"url": "http://x/mcp", "tokn": 1}}}, "mcp.servers.a.tokn", "unknown key"),
])
def test_bad_config_names_the_field(mcp, path, reason):
    with pytest.raises(ConfigError) as bad:
        parse_config({"mcp": mcp})
    assert any(p.startswith(path) and reason in r for p, r in bad.value.problems), bad.value.problems
