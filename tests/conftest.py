"""Shared fixtures: real mock upstreams, real gateways on loopback, real Redis and PostgreSQL.

Redis: the server on 127.0.0.1:6379 when it answers; otherwise a private one
started from the installed ``redis-server`` binary (pytest-redis); otherwise the
test fails naming what to install. PostgreSQL the same way: the server on
127.0.0.1:5432 (trust auth, database ``test``) when it answers; otherwise a
private one from the installed ``pg_ctl`` (pytest-postgresql). Such tests never skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_postgresql import factories as pg_factories
from pytest_redis import factories

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayProcess, GatewayThread
from tests.certs import UpstreamCerts

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


PG_HOST, PG_PORT, PG_USER, PG_DATABASE = "127.0.0.1", 5432, "postgres", "test"

postgresql_private_proc = pg_factories.postgresql_proc(
    executable=shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl", host="127.0.0.1"
)


def _in_thread(work: Callable[[], Any]) -> Any:
    """``asyncio.run`` in a thread of its own: these fixtures may be set up while a test's loop runs."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def _postgres_answers(url: str) -> bool:
    import asyncio

    import asyncpg

    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(url, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await connection.close()
        return True

    return bool(_in_thread(lambda: asyncio.run(probe())))


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> str:
    """``postgresql://user@host:port/db`` of a real PostgreSQL server for this test session."""
    local = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"
    if _postgres_answers(local):
        return local
    if shutil.which("pg_ctl") is None and not os.path.exists("/usr/lib/postgresql/15/bin/pg_ctl"):
        pytest.fail(
            "These tests need PostgreSQL: none answers on 127.0.0.1:5432 (trust auth, database 'test') and no "
            "pg_ctl binary is installed. Install it (Debian: apt-get install postgresql) or start one there."
        )
    proc = request.getfixturevalue("postgresql_private_proc")
    return f"postgresql://{proc.user}@{proc.host}:{proc.port}/postgres"


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The server's URL with a schema unique to this test (``?schema=``), dropped afterwards."""
    import asyncio

    import asyncpg

    schema = f"sytest_{uuid.uuid4().hex[:12]}"
    yield f"{postgres_server}?schema={schema}"

    async def drop() -> None:
        connection = await asyncpg.connect(postgres_server, timeout=5)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()

    _in_thread(lambda: asyncio.run(drop()))


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
def certs(tmp_path: Any) -> UpstreamCerts:
    """A throwaway CA for HTTPS upstreams: ``certs.ca_file``, ``certs.server_context()``."""
    return UpstreamCerts(tmp_path)


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

    def start(config: dict[str, Any], env: dict[str, str] | None = None, **options: Any) -> GatewayProcess:
        gateway = GatewayProcess(config, env=env, **options).start()
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
