"""The failure drills of the multi-region guide (README, Deployment) that one machine can play.

- **PostgreSQL failover**: the database's address stops answering (every connection cut, new
  ones refused), then answers again — as a managed failover does behind one endpoint. Requests
  keep being served with keys from memory; their spend records wait in the bounded writer and
  reach the database once it is back.
- **Redis down under --workers**: both workers keep answering (``limits.on_backend_error: open``)
  and say ``unreachable`` on ``/health/ready``; Redis back, the limit holds again.
- **A region's gateway down**: gateways of two regions share PostgreSQL (keys, spend) but not Redis;
  with one region's gateway gone, a key issued there works at the other's, and its spend shows there.

Also drilled elsewhere: a region's deployments down (``tests/routing/test_regions.py``), Redis down
for limits and budgets in one process (``tests/admission/test_limits_e2e.py``,
``tests/budgets/test_ledger.py``), a batch surviving Redis losing its queue (``tests/batch/test_survival.py``).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
import orjson
import pytest

from switchyard.server.runner import GatewayThread
from switchyard.storage.migrate import upgrade
from tests.server.raw_http import request

MASTER = "sk-master-drills-0123456789"
OWNER = {"authorization": f"Bearer {MASTER}", "content-type": "application/json"}
MODELS = {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}


def _until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Polls ``check`` (state in another process or thread) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


class Endpoint:
    """A TCP forwarder on loopback in front of ``target``: ``cut()`` drops every connection and
    refuses new ones (a failover in progress), ``restore()`` accepts again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: Any = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.restore()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    def restore(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)
        self._call(start())

    def cut(self) -> None:
        async def stop() -> None:
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()
            self.writers.clear()
        self._call(stop())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def database(postgres_url: str) -> Iterator[tuple[str, Endpoint]]:
    """A migrated PostgreSQL schema, and the same URL through a cuttable endpoint."""
    asyncio.run(upgrade(postgres_url))
    parts = urlsplit(postgres_url)
    endpoint = Endpoint((parts.hostname or "127.0.0.1", parts.port or 5432))
    through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{endpoint.port}"))
    yield through, endpoint
    endpoint.close()


def _key(url: str, tenant: str = "acme") -> str:
    request(url, "POST", "/admin/tenants", orjson.dumps({"name": tenant}), OWNER)
    made = request(url, "POST", "/admin/keys", orjson.dumps({"name": f"{tenant}-app", "tenant": tenant}), OWNER)
    assert made.status == 201, made.body
    return str(made.json()["key"])


def _chat(url: str, key: str) -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=10)
    return client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "still here"}]) \
        .choices[0].message.content or ""


def _spent(url: str) -> int:
    answer = request(url, "GET", "/admin/spend?group_by=key", headers=OWNER, timeout=10)
    return int(answer.json()["total"]["requests"]) if answer.status == 200 else -1


def test_postgresql_failover_requests_go_on_and_spend_arrives_after(database):
    url, endpoint = database
    config = {"auth": {"master_key": MASTER}, "storage": {"url": url}, "spend": {"records": True},
              "models": MODELS}
    with GatewayThread(config) as gateway:
        key = _key(gateway.url)
        assert _chat(gateway.url, key) == "still here"
        assert _until(lambda: _spent(gateway.url) == 1)

        endpoint.cut()  # the primary is gone; the endpoint answers nothing
        started = time.monotonic()
        assert [_chat(gateway.url, key) for _ in range(3)] == ["still here"] * 3  # keys are in memory
        assert time.monotonic() - started < 5  # no request waited on the database
        down = request(gateway.url, "GET", "/admin/keys", headers=OWNER, timeout=15)
        assert down.status >= 500  # the admin API says so, and does not hang

        endpoint.restore()  # the new primary behind the same endpoint
        assert _until(lambda: _spent(gateway.url) == 4), _spent(gateway.url)  # nothing lost
        assert request(gateway.url, "GET", "/admin/keys", headers=OWNER).status == 200


def test_a_regions_gateway_down_its_keys_work_at_the_other_region(database, redis_url, redis_prefix):
    url, _ = database
    def region(name: str) -> dict[str, Any]:
        return {"auth": {"master_key": MASTER}, "storage": {"url": url}, "spend": {"records": True},
                "redis": {"url": redis_url, "prefix": f"{redis_prefix}{name}:"},  # Redis is per region
                "limits": {"backend": "redis", "rules": [{"scope": "key", "rpm": 1000}]},
                "reliability": {"region": name}, "models": MODELS}

    with GatewayThread(region("us")) as us:
        eu = GatewayThread(region("eu")).start()
        key = _key(eu.url)  # issued in eu
        assert _chat(eu.url, key) == "still here"
        eu.stop()  # eu is down; the global load balancer sends eu's callers to us
        assert _until(lambda: _chat_ok(us.url, key))  # the directory is in the shared PostgreSQL
        assert _until(lambda: _spent(us.url) >= 2)  # eu's spend and us's, in one place


def _chat_ok(url: str, key: str) -> bool:
    try:
        return _chat(url, key) == "still here"
    except openai.AuthenticationError:  # not yet polled from the directory (governance.poll_interval)
        return False


@pytest.fixture
def private_redis() -> Iterator[tuple[Callable[[], None], Callable[[], None], str]]:
    """A redis-server of our own on a fixed port: ``stop()`` and ``start()`` it."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    held: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        held.append(subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        assert _until(lambda: _answers(port), 10), "redis-server did not start"

    def stop() -> None:
        held[-1].kill()
        held[-1].wait()

    start()
    yield stop, start, f"redis://127.0.0.1:{port}/0"
    for proc in held:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_redis_down_under_two_workers_they_answer_and_the_limit_comes_back(private_redis, start_gateway_process):
    stop, start, url = private_redis
    limit = 30
    gateway = start_gateway_process({
        "redis": {"url": url, "prefix": "drill:", "operation_timeout": 0.5, "connect_timeout": 0.5},
        "limits": {"backend": "redis", "on_backend_error": "open", "retry_backend_after": 1.0,
                   "rules": [{"scope": "global", "rpm": limit}], "queue": {"max_wait": 0}},
        "models": MODELS,
    }, workers=2)
    send = lambda: request(gateway.url, "POST", "/v1/chat/completions",  # noqa: E731
                           orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "x"}]}),
                           {"content-type": "application/json"}).status
    assert [send() for _ in range(5)] == [200] * 5
    stop()
    assert [send() for _ in range(10)] == [200] * 10  # open: admitted while Redis is away
    ready = request(gateway.url, "GET", "/health/ready").json()
    assert ready["admission"]["state"] == "unreachable" and ready["status"] == "ok"
    start()  # an empty Redis: each worker tries it again at its next request after retry_backend_after
    assert _until(lambda: send() == 429)  # the window filled up: the limit is counted again
    assert [send() for _ in range(20)] == [429] * 20  # by both workers, through the one Redis
