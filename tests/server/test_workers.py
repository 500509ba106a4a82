"""``switchyard serve --workers N``: one socket, N processes, one set of limits and figures.

Two workers share a global rate limit through Redis (exactly the limit is admitted,
whichever worker a connection lands on) and report one set of metrics (a scrape of
either sums both); a worker that dies is replaced; what would count per worker
without Redis is refused before anything starts.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from prometheus_client.mmap_dict import MmapedDict

from switchyard.cli.main import main
from switchyard.server.runner import GatewayProcess
from tests.observe.metrics_helpers import Scrape, chat_body, scrape
from tests.server.raw_http import request as raw_request

JSON = {"content-type": "application/json"}
LIMIT = 40
SENT = 60
BUDGET = 60.0
CONCURRENCY = 4


def _config(redis_url: str, prefix: str) -> dict:
    return {
        "redis": {"url": redis_url, "prefix": prefix, "operation_timeout": 5.0},
        "limits": {"backend": "redis", "rules": [{"scope": "global", "rpm": LIMIT}], "queue": {"max_wait": 0}},
        "metrics": {"enabled": True, "flush_interval": 0.1},
        "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}},
    }


def _children(pid: int) -> set[int]:
    """The workers of the gateway ``pid`` (not multiprocessing's resource tracker)."""
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(int(child))
    return found


def _served_by(directory: Path) -> dict[int, float]:
    """Requests each worker counted, from its own multiprocess file."""
    served: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        values = MmapedDict.read_all_values_from_file(str(path))
        served[pid] = sum(entry[1] for entry in values if '"switchyard_requests_total"' in entry[0])
    return served


def _until(url: str, total: float, timeout: float = 15.0) -> Scrape:
    """Scrape until the requests counted add up: each worker writes its figures every flush_interval."""
    deadline = time.monotonic() + timeout
    while True:
        got = scrape(url)
        if got.value("switchyard_requests_total") == total or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _chat(url: str) -> int:
    return raw_request(url, "POST", "/v1/chat/completions", body=chat_body("chat"), headers=JSON).status


def test_two_workers_share_the_limit_and_report_one_set_of_metrics(tmp_path, redis_url, redis_prefix,
                                                                   start_gateway_process):
    directory = tmp_path / "metrics"
    directory.mkdir()
    gateway = start_gateway_process(_config(redis_url, redis_prefix), env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
                                    workers=2)
    assert gateway.process is not None
    workers = _children(gateway.process.pid)
    assert len(workers) == 2

    with ThreadPoolExecutor(12) as pool:  # a fresh connection each: the kernel picks a worker for each
        statuses = list(pool.map(lambda _: _chat(gateway.url), range(SENT)))
    assert statuses.count(200) == LIMIT  # one limit, not one per worker
    assert statuses.count(429) == SENT - LIMIT

    got = _until(gateway.url, SENT)
    assert got.value("switchyard_requests_total") == SENT
    assert got.value("switchyard_requests_total", alias="chat", status_class="2xx") == LIMIT
    assert got.value("switchyard_circuit_breaker_state", deployment="chat#0", state="closed") == 2  # both alive
    served = _served_by(directory)
    assert set(served) == workers, served
    assert all(count > 0 for count in served.values()), served  # both workers took requests
    assert sum(served.values()) == SENT
    gateway.stop()  # SIGTERM: the workers finish their requests and exit, then the parent
    assert gateway.process.returncode == 0
    assert not any(_alive(pid) for pid in workers)


def test_two_workers_hold_one_budget(tmp_path, redis_url, redis_prefix, start_gateway_process):
    directory = tmp_path / "metrics"
    directory.mkdir()
    master = "sk-master-workers-0123456789"
    owner = {"authorization": f"Bearer {master}", "content-type": "application/json"}
    gateway = start_gateway_process({
        "auth": {"master_key": master}, "storage": {"url": f"sqlite:///{tmp_path / 'gateway.db'}"},
        "redis": {"url": redis_url, "prefix": redis_prefix, "operation_timeout": 5.0},
        "budgets": {"counters": "shared"}, "metrics": {"enabled": True, "flush_interval": 0.1},
        "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo",
                                             "price": {"input": 1_000_000, "output": 1_000_000}}]}},  # $1 a token
    }, env={"PROMETHEUS_MULTIPROC_DIR": str(directory)}, workers=2)
    assert raw_request(gateway.url, "POST", "/admin/tenants", orjson.dumps({"name": "t"}), owner).status == 201
    made = raw_request(gateway.url, "POST", "/admin/keys",
                       orjson.dumps({"name": "k", "tenant": "t", "budget": {"amount": BUDGET}}), owner)
    key = made.json()["key"]
    caller = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    deadline = time.monotonic() + 15  # the other worker reads the new key from the directory within a poll
    while time.monotonic() < deadline and not all(
            raw_request(gateway.url, "GET", "/v1/models", headers=caller).status == 200 for _ in range(8)):
        time.sleep(0.05)
    body = chat_body("chat", "one two three", max_tokens=3)

    def spend(_: int) -> tuple[int, float]:
        answer = raw_request(gateway.url, "POST", "/v1/chat/completions", body=body, headers=caller)
        usage = answer.json().get("usage") or {} if answer.status == 200 else {}
        return answer.status, float(usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answers = list(pool.map(spend, range(40)))  # about four budgets' worth
    costs = [cost for status, cost in answers if status == 200]
    # A request is admitted while spend and reservations are under the budget: one budget lets at most
    # each request in flight overshoot it (by what its estimate missed); a budget per worker, twice it.
    assert BUDGET <= sum(costs) <= BUDGET + CONCURRENCY * max(costs) < 2 * BUDGET, costs
    assert sum(1 for status, _ in answers if status == 429) >= 10
    assert _until_both(directory), _served_by(directory)  # both workers took requests, so both counted


def _until_both(directory: Path, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        served = _served_by(directory)
        if len(served) == 2 and all(count > 0 for count in served.values()):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # not a zombie
    except OSError:
        return False


def test_a_worker_that_dies_is_replaced_and_none_outlives_the_parent(start_gateway_process):
    gateway = start_gateway_process({"models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}},
                                    workers=2)
    assert gateway.process is not None
    before = _children(gateway.process.pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    now = before
    while time.monotonic() < deadline:
        now = _children(gateway.process.pid)
        if victim not in now and len(now) == 2:
            break
        time.sleep(0.05)
    assert victim not in now and len(now) == 2
    assert all(_chat(gateway.url) == 200 for _ in range(4))

    gateway.process.kill()  # SIGKILL: the parent cannot stop anything itself
    gateway.process.wait(10)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in now) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in now)  # the kernel told them (PR_SET_PDEATHSIG)


def _serve(tmp_path: Path, config: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["serve", "--config", str(path), *args])
    return code, err.getvalue()


MODELS = "models: {chat: {deployments: [{provider: fake, model: echo}]}}\n"


def test_per_process_limits_are_refused_with_several_workers(tmp_path):
    code, err = _serve(tmp_path, MODELS + "limits: {rules: [{scope: global, rpm: 10}]}\n", "--workers", "2")
    assert code == 2
    assert "limits.backend" in err and "--workers 2" in err and "redis" in err


def test_keys_without_redis_are_refused_with_several_workers(tmp_path):
    code, err = _serve(tmp_path, MODELS + "auth: {master_key: sk-master-0123456789}\n", "--workers", "3")
    assert code == 2
    assert "storage.url" in err and "memory://" in err
    assert "budgets.counters" in err
    assert "rpm and tpm" in err


def test_sticky_sessions_without_redis_are_refused(tmp_path):
    code, err = _serve(tmp_path, MODELS + "routing: {sticky: {}}\n", "--workers", "2")
    assert code == 2 and "routing.sticky" in err


def test_zero_workers_is_an_error(tmp_path):
    code, err = _serve(tmp_path, MODELS, "--workers", "0")
    assert code == 2 and "--workers: must be at least 1" in err


def test_workers_that_cannot_start_are_said_and_the_parent_exits(postgres_url, redis_url, redis_prefix):
    gateway = GatewayProcess({
        "auth": {"master_key": "sk-master-workers-0123456789"},
        "storage": {"url": postgres_url},  # never migrated: each worker refuses to start, naming the command
        "redis": {"url": redis_url, "prefix": redis_prefix},
        "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}},
    }, workers=2)
    with pytest.raises(RuntimeError) as failed:
        gateway.start()
    said = str(failed.value)
    assert "switchyard db upgrade" in said and "before serving" in said
    assert gateway.process is not None and gateway.process.returncode == 1
