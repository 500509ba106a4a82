"""A server that goes away after connecting: its calls are refused as unavailable, nothing hangs;
when it is back, the gateway reconnects by itself."""

from __future__ import annotations

import time

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from switchyard.server.runner import GatewayThread
from tests.mcp_gateway.conftest import MASTER, mcp_client
from tests.mcp_gateway.upstream import UPSTREAM_TOKEN, UpstreamThread


async def test_a_server_that_went_away_is_unavailable():
    upstream = UpstreamThread().__enter__()
    config = {"auth": {"master_key": MASTER}, "logging": {"access_log": False},
              "mcp": {"servers": {"weather": {"url": upstream.url, "timeout": 5,
                                              "headers": {"authorization": f"Bearer {UPSTREAM_TOKEN}"}}}}}
    with GatewayThread(config) as gateway:
        async with mcp_client(gateway.url, MASTER) as client:
            before = await client.call_tool("weather__add", {"a": 1, "b": 1})
            upstream.__exit__()
            with pytest.raises(MCPError) as first:
                await client.call_tool("weather__add", {"a": 1, "b": 1})
            with pytest.raises(MCPError) as second:
                await client.call_tool("weather__add", {"a": 1, "b": 1})
            port = int(upstream.url.rsplit(":", 1)[1].split("/")[0])
            with UpstreamThread(port):
                deadline, after = time.monotonic() + 20, None
                while after is None and time.monotonic() < deadline:  # the reconnect backoff starts at 0.5 s
                    try:
                        after = await client.call_tool("weather__add", {"a": 2, "b": 2})
                    except MCPError as exc:
                        assert exc.data == {"reason": "unavailable"}
                        await anyio.sleep(0.2)
    assert before.structured_content == {"result": 2}
    assert first.value.code == -32002 and first.value.data == {"reason": "unavailable"}
    assert "MCP server 'weather'" in first.value.message and UPSTREAM_TOKEN not in first.value.message
    assert second.value.data == {"reason": "unavailable"}
    assert after is not None and after.structured_content == {"result": 4}
