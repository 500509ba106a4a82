"""Shared fixtures: real mock upstreams, real gateways on loopback, real Redis.

Redis: the server on 127.0.0.1:6379 when it answers; otherwise a private one
started from the installed ``redis-server`` binary (pytest-redis); otherwise the
test fails naming what to install. Such tests never skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_redis import factories

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayProcess, GatewayThread

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

redis_private_proc = factories.redis_proc(
    executable=shutil.which("redis-server") or "/usr/bin/redis-server", host="127.0.0.1"
)


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> tuple[str, int]:
    """``(host, port)`` of a real Redis server for this test session."""
    if _redis_answers(REDIS_HOST, REDIS_PORT):
        return REDIS_HOST, REDIS_PORT
    if shutil.which("redis-server") is None and not os.path.exists("/usr/bin/redis-server"):
        pytest.fail(
            "These tests need Redis: none answers on 127.0.0.1:6379 and no redis-server binary is installed. "
            "Install it (Debian: apt-get install redis-server) or start one on 127.0.0.1:6379."
        )
    proc = request.getfixturevalue("redis_private_proc")
    return proc.host, int(proc.port)


@pytest.fixture
def redis_url(redis_server: tuple[str, int]) -> str:
    host, port = redis_server
    return f"redis://{host}:{port}/0"


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix unique to this test, so concurrent runs never collide."""
    return f"sytest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def mock_upstream() -> Iterator[MockUpstreamThread]:
    """A fake OpenAI upstream on a loopback port."""
    with MockUpstreamThread() as mock:
        yield mock


@pytest.fixture
def start_mock() -> Iterator[Callable[..., MockUpstreamThread]]:
    """Start mock upstreams with options; all are stopped after the test."""
    started: list[MockUpstreamThread] = []

    def start(**options: Any) -> MockUpstreamThread:
        mock = MockUpstreamThread(**options).start()
        started.append(mock)
        return mock

    yield start
    for mock in started:
        mock.stop()


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., GatewayThread]]:
    """Start in-process gateways (uvicorn in a thread) from config dicts."""
    started: list[GatewayThread] = []

    def start(config: dict[str, Any]) -> GatewayThread:
        gateway = GatewayThread(config).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def start_gateway_process() -> Iterator[Callable[..., GatewayProcess]]:
    """Start ``switchyard serve`` subprocesses from config dicts."""
    started: list[GatewayProcess] = []

    def start(config: dict[str, Any], env: dict[str, str] | None = None) -> GatewayProcess:
        gateway = GatewayProcess(config, env=env).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def openai_deployment() -> Callable[..., dict[str, Any]]:
    """Builds a deployment dict pointing at a mock upstream's OpenAI endpoint."""

    def build(mock: MockUpstreamThread, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
        return {"provider": "openai", "model": model, "base_url": mock.base_url, "api_key": "sk-upstream", **extra}

    return build
