"""A batch survives its gateway being killed (SIGKILL) mid-way, Redis losing the work queue, and
Redis itself killed and started again empty: every line ends up in the output exactly once."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import redis
import yaml

from switchyard.server.runner import GatewayProcess

CHAT = "/v1/chat/completions"


def _content(count: int, model: str = "chat") -> bytes:
    return b"\n".join(orjson.dumps({"custom_id": f"line-{i}", "method": "POST", "url": CHAT, "body": {
        "model": model, "messages": [{"role": "user", "content": f"line {i}"}]}}) for i in range(count))


def _finished(client: openai.OpenAI, batch_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    batch = client.batches.retrieve(batch_id)
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)  # the API is polled: there is nothing to wait on
        batch = client.batches.retrieve(batch_id)
    return batch


def _exactly_once(client: openai.OpenAI, batch: Any, count: int) -> None:
    assert batch.status == "completed" and batch.request_counts.completed == count, batch
    lines = [orjson.loads(x) for x in client.files.content(batch.output_file_id).content.splitlines()]
    ids = [line["custom_id"] for line in lines]
    assert len(ids) == count and set(ids) == {f"line-{i}" for i in range(count)}
    assert all(line["response"]["body"]["choices"][0]["message"]["content"] == line["custom_id"].replace("-", " ")
               for line in lines)


def test_a_batch_survives_its_gateway_being_killed(tmp_path: Path, mock_upstream: Any) -> None:
    count = 300
    config = {"storage": {"url": f"sqlite:///{tmp_path / 'gw.db'}"},
              "batch": {"lease": 1, "sweep_interval": 0.2, "concurrency": 4, "chunk_lines": 5},
              "logging": {"access_log": False},
              "models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                   "base_url": mock_upstream.base_url, "api_key": "sk-up",
                                                   "headers": {"x-mock-latency-ms": "10"}}]}}}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    first = GatewayProcess(path).start()
    try:
        client = openai.OpenAI(base_url=f"{first.url}/v1", api_key="x", max_retries=0)
        uploaded = client.files.create(file=("lines.jsonl", io.BytesIO(_content(count))), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
        while client.batches.retrieve(batch.id).request_counts.completed < 40:
            time.sleep(0.05)
    finally:
        assert first.process is not None
        first.process.kill()  # SIGKILL: no graceful shutdown, lines in flight are lost with it
        first.process.wait(10)
    upstream_calls = mock_upstream.mock.count("/v1/chat/completions")
    assert upstream_calls < count, "the batch finished before the kill: nothing tested"
    with GatewayProcess(path) as second:
        client = openai.OpenAI(base_url=f"{second.url}/v1", api_key="x", max_retries=0)
        _exactly_once(client, _finished(client, batch.id), count)


def _redis_config(tmp_path: Path, mock_upstream: Any, redis_section: dict[str, Any]) -> dict[str, Any]:
    """A gateway running batches on SQLite with its work queue in Redis, short leases and sweeps."""
    return {"storage": {"url": f"sqlite:///{tmp_path / 'gw.db'}"}, "redis": redis_section,
            "batch": {"lease": 1, "sweep_interval": 0.1, "concurrency": 2, "chunk_lines": 5},
            "logging": {"access_log": False},
            "models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                 "base_url": mock_upstream.base_url, "api_key": "sk-up",
                                                 "headers": {"x-mock-latency-ms": "10"}}]}}}


def test_a_batch_survives_redis_losing_its_work_queue(tmp_path: Path, mock_upstream: Any, redis_url: str,
                                                      redis_prefix: str, start_gateway: Any) -> None:
    count = 200
    config = _redis_config(tmp_path, mock_upstream, {"url": redis_url, "prefix": redis_prefix})
    gateway = start_gateway(config)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    uploaded = client.files.create(file=("lines.jsonl", io.BytesIO(_content(count))), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
    while client.batches.retrieve(batch.id).request_counts.completed < 20:
        time.sleep(0.05)
    shared = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "batch:lines"
    assert shared.xlen(stream) > 0
    shared.delete(stream, redis_prefix + "batch:epoch")  # what a Redis restarted without persistence has lost
    try:
        _exactly_once(client, _finished(client, batch.id), count)
        assert shared.exists(redis_prefix + "batch:epoch")  # the work went to the new epoch's stream
    finally:
        for key in shared.scan_iter(redis_prefix + "*"):
            shared.delete(key)
        shared.close()


class PrivateRedis:
    """A redis-server of this test's own on a spare loopback port, without persistence: killed and
    started again, it comes back empty — a real restart, not keys deleted."""

    def __init__(self, tmp_path: Path) -> None:
        import shutil
        import socket

        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise AssertionError("This test needs the redis-server binary (Debian: apt-get install redis-server).")
        self.binary = binary
        self.dir = tmp_path
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        import subprocess

        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:  # the server's readiness is only observable by asking it
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the private redis-server did not start"
                assert self.process.poll() is None, "the private redis-server exited"
                time.sleep(0.02)
        client.close()
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # SIGKILL: no save, no goodbye to its clients
            self.process.wait(10)


def test_a_batch_survives_a_redis_restart(tmp_path: Path, mock_upstream: Any, start_gateway: Any) -> None:
    count = 200
    private = PrivateRedis(tmp_path).start()
    try:
        config = _redis_config(tmp_path, mock_upstream, {"url": private.url})
        gateway = start_gateway(config)
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
        uploaded = client.files.create(file=("lines.jsonl", io.BytesIO(_content(count))), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
        while client.batches.retrieve(batch.id).request_counts.completed < 20:
            time.sleep(0.05)
        private.kill()
        assert client.batches.retrieve(batch.id).request_counts.completed < count, "finished before the restart"
        private.start()  # the same port, empty
        _exactly_once(client, _finished(client, batch.id), count)
        shared = redis.Redis.from_url(private.url)
        assert shared.exists("switchyard:batch:epoch") or any(shared.scan_iter("*batch:epoch"))
        shared.close()
    finally:
        private.kill()
