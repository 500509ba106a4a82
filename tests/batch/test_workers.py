"""``switchyard worker`` processes on real Redis Streams and PostgreSQL: two workers share a batch, one is
killed with SIGKILL part way, and every line ends up in the output exactly once; its work is taken over
when its lease ends, and the stream is trimmed back to nothing once the work is done.

The line count is the issue's 10,000 (about 10 s here; ``SWITCHYARD_BATCH_TEST_LINES`` sets another).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import redis
import yaml

from switchyard.batch.streams import GROUP
from switchyard.cli.main import main

CHAT = "/v1/chat/completions"
LINES = int(os.environ.get("SWITCHYARD_BATCH_TEST_LINES", "10000"))


def _worker(config: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "switchyard", "worker", "--config", str(config),
                                "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "switchyard worker ready" in line, line
    return process


@pytest.mark.timeout(180)
def test_two_workers_one_killed_mid_batch_every_line_once(tmp_path, postgres_url, redis_url, redis_prefix,
                                                          mock_upstream, start_gateway):
    assert main(["db", "upgrade", "--url", postgres_url]) == 0
    config: dict[str, Any] = {
        "storage": {"url": postgres_url}, "redis": {"url": redis_url, "prefix": redis_prefix},
        "batch": {"in_gateway": False, "lease": 2, "sweep_interval": 0.2, "concurrency": 32},
        "logging": {"access_log": False},
        "models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                             "base_url": mock_upstream.base_url, "api_key": "sk-up",
                                             # each line takes a while: a worker is always holding some
                                             "headers": {"x-mock-latency-ms": "20"}}]}}}
    path = tmp_path / "switchyard.yaml"
    path.write_text(yaml.safe_dump(config))
    shared = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "batch:lines"
    workers = [_worker(path), _worker(path)]
    try:
        gateway = start_gateway(config)
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
        content = b"\n".join(orjson.dumps({"custom_id": f"line-{i}", "method": "POST", "url": CHAT, "body": {
            "model": "chat", "messages": [{"role": "user", "content": f"line {i}"}]}}) for i in range(LINES))
        uploaded = client.files.create(file=("lines.jsonl", io.BytesIO(content)), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
        while client.batches.retrieve(batch.id).request_counts.completed < LINES // 4:
            time.sleep(0.02)
        # The victim is a worker caught holding work: each in turn is stopped (SIGSTOP: it
        # acknowledges nothing more) and its pending entries read; one holding none goes on.
        victim, dead, stop_by = None, [], time.monotonic() + 60
        while victim is None:
            assert time.monotonic() < stop_by, "no worker was ever caught holding work"
            for worker in workers:
                worker.send_signal(signal.SIGSTOP)
                held = {c["name"].decode(): int(c["pending"]) for c in shared.xinfo_consumers(stream, GROUP)}
                dead = [name for name in held if f"-{worker.pid}-" in name]
                if len(dead) == 1 and held[dead[0]] > 0:
                    victim = worker
                    break
                worker.send_signal(signal.SIGCONT)
        victim.send_signal(signal.SIGKILL)  # it dies holding work (the loop above saw it, stopped)
        victim.wait(10)
        deadline = time.monotonic() + 120
        while (batch := client.batches.retrieve(batch.id)).status != "completed":
            assert time.monotonic() < deadline and batch.status == "in_progress", batch
            time.sleep(0.1)  # the API is polled: there is nothing to wait on
        assert batch.request_counts.completed == LINES and batch.request_counts.failed == 0
        ids = [orjson.loads(x)["custom_id"] for x in client.files.content(batch.output_file_id).content.splitlines()]
        assert len(ids) == LINES and len(set(ids)) == LINES, "a line is missing or came out twice"
        deadline = time.monotonic() + 20
        while True:  # whatever it held is taken over (its lines may have been done by then: acknowledged)
            after = {c["name"].decode(): int(c["pending"]) for c in shared.xinfo_consumers(stream, GROUP)}
            if after.get(dead[0], 0) == 0:
                break
            assert time.monotonic() < deadline, after
            time.sleep(0.1)  # Redis is polled: there is nothing to wait on
        while shared.xlen(stream) > 1:  # acknowledged entries are trimmed: the stream stays bounded
            assert time.monotonic() < deadline, shared.xlen(stream)
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)
        for key in shared.scan_iter(redis_prefix + "*"):
            shared.delete(key)
        shared.close()
