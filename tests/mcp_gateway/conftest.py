"""A gateway with MCP servers behind it: the SDK's MCPServer over streamable HTTP on loopback
(requiring the gateway's credential), one over stdio the gateway starts, the calculator;
and the SDK's own client in front."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from switchyard.server.runner import GatewayThread
from tests.mcp_gateway.upstream import UPSTREAM_TOKEN, UpstreamThread

MASTER = "sk-master-mcp-0123456789"
READER = "sk-reader-mcp-0123456789"   # team ml
LIMITED = "sk-limited-mcp-0123456789"  # weather__add only, 2 a minute
STRANGER = "sk-stranger-mcp-012345678"  # no tools at all


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_config(upstream_url: str, **mcp: Any) -> dict[str, Any]:
    return {
        "auth": {"master_key": MASTER, "keys": [
            {"key": READER, "name": "reader", "team": "ml"},
            {"key": LIMITED, "name": "limited"},
            {"key": STRANGER, "name": "stranger"},
        ]},
        "models": {"fake/echo": {"deployments": [{"provider": "fake", "model": "echo"}]}},
        "metrics": {"enabled": True},
        "logging": {"access_log": False},
        "mcp": {
            "servers": {
                "weather": {"url": upstream_url, "headers": {"authorization": f"Bearer {UPSTREAM_TOKEN}"}},
                "slowpoke": {"url": upstream_url, "headers": {"authorization": f"Bearer {UPSTREAM_TOKEN}"},
                             "timeout": 0.3},
                "files": {"command": sys.executable, "args": ["-m", "tests.mcp_gateway.upstream", "files"]},
                "gone": {"url": f"http://127.0.0.1:{closed_port()}/mcp", "connect_timeout": 0.5},
            },
            "builtins": {"calc": {}},
            "access": {"teams": {"data": ["files__echo"], "ml": ["weather__forecast", "weather__add", "files__*", "calc__*", "slowpoke__wait"]},
                       "keys": {"limited": ["weather__add"]},
                       "tags": {"tools": ["calc__*"]}},
            "rate_limits": [{"tool": "weather__add", "rpm": 2}],
            "max_argument_bytes": 4096,
            **mcp,
        },
    }


@pytest.fixture(scope="package")
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as server:
        yield server


@pytest.fixture(scope="package")
def gateway(upstream: UpstreamThread) -> Iterator[GatewayThread]:
    with GatewayThread(gateway_config(upstream.url)) as gw:
        yield gw


@asynccontextmanager
async def mcp_client(url: str, key: str | None) -> AsyncIterator[Client]:
    """The SDK's client at ``url``/mcp, presenting ``key`` as a bearer token."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers) as http, \
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client
