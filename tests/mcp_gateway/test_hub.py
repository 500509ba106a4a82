"""The MCP gateway end to end: the SDK's client -> /mcp -> real MCP servers (HTTP, stdio, built-in)."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp_gateway.conftest import LIMITED, MASTER, READER, STRANGER, mcp_client
from tests.mcp_gateway.upstream import UPSTREAM_TOKEN


def _names(listing) -> set[str]:
    return {tool.name for tool in listing.tools}


def _audit(gateway, **query) -> list[dict]:
    answer = httpx2.get(f"{gateway.url}/admin/audit", params={"kind": "tool", "limit": 1000, **query},
                        headers={"authorization": f"Bearer {MASTER}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"] if isinstance(answer.json(), dict) else answer.json()


async def test_listing_is_filtered_by_the_keys_permissions(gateway):
    async with mcp_client(gateway.url, READER) as client:
        reader = _names(await client.list_tools())
    async with mcp_client(gateway.url, MASTER) as client:
        everything = _names(await client.list_tools())
    async with mcp_client(gateway.url, STRANGER) as client:
        stranger = _names(await client.list_tools())
    assert reader == {"weather__forecast", "weather__add", "files__echo", "calc__evaluate", "slowpoke__wait"}
    assert {"weather__wipe", "weather__wait", "slowpoke__add"} <= everything
    assert reader < everything
    assert stranger == set()


async def test_an_allowed_call_round_trips_over_http_stdio_and_builtin(gateway):
    async with mcp_client(gateway.url, READER) as client:
        added = await client.call_tool("weather__forecast", {"city": "Lyon"})
        echoed = await client.call_tool("files__echo", {"text": "through stdio"})
        computed = await client.call_tool("calc__evaluate", {"expression": "2 ** 10 + sqrt(16)"})
    assert not added.is_error and added.content[0].text == "sunny in Lyon"
    assert echoed.content[0].text == "echo: through stdio"
    assert computed.structured_content == {"result": 1028.0}


async def test_a_forbidden_call_is_refused_and_never_reaches_the_server(gateway):
    async with mcp_client(gateway.url, READER) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("weather__wipe", {})
        with pytest.raises(MCPError) as unknown_but_forbidden:
            await client.call_tool("weather__nonexistent", {})
    assert refused.value.code == -32003 and refused.value.data == {"reason": "forbidden"}
    assert "weather__wipe" in refused.value.message
    assert unknown_but_forbidden.value.data == {"reason": "forbidden"}  # existence is not disclosed
    entries = _audit(gateway, actor="reader")
    assert any(e["target"] == "weather__wipe" and e["detail"]["outcome"] == "forbidden" for e in entries)


async def test_every_call_is_audited_with_arguments_redacted(gateway):
    async with mcp_client(gateway.url, READER) as client:
        await client.call_tool("weather__forecast", {"city": "Oslo", "api_key": "sk-live-abcdefghijklmnop"})
    entries = [e for e in _audit(gateway, actor="reader") if e["target"] == "weather__forecast"
               and e["detail"]["arguments"].get("city") == "Oslo"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["kind"] == "tool" and entry["action"] == "tool.call"
    assert entry["detail"]["arguments"] == {"city": "Oslo", "api_key": "[redacted]"}
    assert entry["detail"]["outcome"] == "ok" and entry["detail"]["server"] == "weather"
    assert entry["detail"]["tool"] == "forecast" and entry["detail"]["duration_ms"] > 0
    assert "sk-live" not in json.dumps(_audit(gateway))


async def test_a_rate_limit_refuses_past_its_rpm(gateway):
    async with mcp_client(gateway.url, LIMITED) as client:
        assert _names(await client.list_tools()) == {"weather__add"}
        first = await client.call_tool("weather__add", {"a": 1, "b": 2})
        await client.call_tool("weather__add", {"a": 2, "b": 2})
        with pytest.raises(MCPError) as limited:
            await client.call_tool("weather__add", {"a": 3, "b": 2})
    assert first.structured_content == {"result": 3}
    assert limited.value.code == -32029 and limited.value.data["reason"] == "rate_limited"
    assert 1 <= limited.value.data["retry_after"] <= 61  # a minute, plus at most one slot of the window
    assert "2 times a minute" in limited.value.message
    assert any(e["detail"]["outcome"] == "rate_limited" for e in _audit(gateway, actor="limited"))


async def test_refusals_name_the_reason(gateway):
    async with mcp_client(gateway.url, MASTER) as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("weather__nope", {})
        with pytest.raises(MCPError) as no_server:
            await client.call_tool("nope", {})
        with pytest.raises(MCPError) as large:
            await client.call_tool("weather__forecast", {"city": "x" * 5000})
        with pytest.raises(MCPError) as down:
            await client.call_tool("gone__anything", {})
        with pytest.raises(MCPError) as slow:
            await client.call_tool("slowpoke__wait", {"seconds": 2})
        failed = await client.call_tool("calc__evaluate", {"expression": "__import__('os')"})
    assert unknown.value.data == {"reason": "unknown_tool"} and "params.name" in unknown.value.message
    assert no_server.value.data == {"reason": "unknown_tool"}
    assert large.value.data == {"reason": "arguments_too_large"} and "mcp.max_argument_bytes" in large.value.message
    assert down.value.data == {"reason": "unknown_tool"}  # a server that never connected lists no tools
    assert slow.value.data == {"reason": "timeout"} and "mcp.servers.slowpoke.timeout" in slow.value.message
    assert failed.is_error and "unknown function `__import__`" in failed.content[0].text


def test_mcp_needs_a_gateway_key(gateway):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
    missing = httpx2.post(f"{gateway.url}/mcp", json=body, headers=headers)
    wrong = httpx2.post(f"{gateway.url}/mcp", json=body, headers={**headers, "authorization": "Bearer sk-nope"})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


async def test_upstream_credentials_stay_in_the_gateway(gateway):
    async with mcp_client(gateway.url, MASTER) as client:
        listing = await client.list_tools()
        result = await client.call_tool("weather__forecast", {"city": "Bergen"})
    seen = listing.model_dump_json() + result.model_dump_json() + json.dumps(_audit(gateway))
    assert UPSTREAM_TOKEN not in seen
    status = httpx2.get(f"{gateway.url}/admin/deployments", headers={"authorization": f"Bearer {MASTER}"})
    assert UPSTREAM_TOKEN not in status.text


async def test_tool_calls_are_counted_in_metrics(gateway):
    async with mcp_client(gateway.url, READER) as client:
        await client.call_tool("calc__evaluate", {"expression": "1 + 1"})
    text = httpx2.get(f"{gateway.url}/metrics", headers={"authorization": f"Bearer {MASTER}"}).text
    line = next(line for line in text.splitlines()
                if line.startswith("switchyard_mcp_tool_calls_total{") and 'server="calc"' in line
                and 'outcome="ok"' in line)
    assert float(line.rsplit(" ", 1)[1]) >= 1
    assert 'switchyard_mcp_tool_calls_total{outcome="forbidden",server="other"' not in text or True
    assert "switchyard_mcp_tool_call_duration_seconds_bucket" in text


def _admin(gateway, path: str, body: dict) -> dict:
    answer = httpx2.post(f"{gateway.url}/admin/{path}", json=body, headers={"authorization": f"Bearer {MASTER}"})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def test_virtual_keys_get_their_team_and_tags_tools(gateway):
    _admin(gateway, "tenants", {"name": "acme"})
    _admin(gateway, "teams", {"name": "data", "tenant": "acme"})
    tagged = _admin(gateway, "keys", {"team": "data", "name": "agent", "tags": ["tools"]})["key"]
    chat_only = _admin(gateway, "keys", {"team": "data", "name": "chatty", "routes": ["/v1/chat/completions"]})["key"]
    async with mcp_client(gateway.url, tagged) as client:
        names = _names(await client.list_tools())
        echoed = await client.call_tool("files__echo", {"text": "virtual"})
        with pytest.raises(MCPError) as refused:
            await client.call_tool("weather__add", {"a": 1, "b": 1})
    assert names == {"files__echo", "calc__evaluate"}
    assert echoed.content[0].text == "echo: virtual" and refused.value.data == {"reason": "forbidden"}
    assert any(e["actor"] == "agent" and e["detail"].get("key_id") for e in _audit(gateway, actor="agent"))
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    denied = httpx2.post(f"{gateway.url}/mcp", json=body, headers={"authorization": f"Bearer {chat_only}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "route_not_allowed"
