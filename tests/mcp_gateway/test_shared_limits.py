"""Per-tool rate limits counted in Redis hold across replicas (the admission backend's counters)."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError

from switchyard.server.runner import GatewayThread
from tests.mcp_gateway.conftest import MASTER, READER, mcp_client


async def test_two_replicas_share_a_tools_limit(redis_url, redis_prefix):
    config = {
        "auth": {"master_key": MASTER, "keys": [{"key": READER, "name": "reader"}]},
        "logging": {"access_log": False},
        "redis": {"url": redis_url, "prefix": redis_prefix},
        "limits": {"backend": "redis"},
        "mcp": {"builtins": {"calc": {}}, "access": {"default": ["calc__*"]},
                "rate_limits": [{"tool": "calc__evaluate", "rpm": 2}]},
    }
    with GatewayThread(config) as one, GatewayThread(config) as two:
        async with mcp_client(one.url, READER) as first, mcp_client(two.url, READER) as second:
            assert (await first.call_tool("calc__evaluate", {"expression": "1"})).structured_content == {"result": 1}
            assert (await second.call_tool("calc__evaluate", {"expression": "2"})).structured_content == {"result": 2}
            with pytest.raises(MCPError) as refused:
                await first.call_tool("calc__evaluate", {"expression": "3"})
            with pytest.raises(MCPError) as also:
                await second.call_tool("calc__evaluate", {"expression": "4"})
    assert refused.value.data["reason"] == "rate_limited" and also.value.data["reason"] == "rate_limited"
