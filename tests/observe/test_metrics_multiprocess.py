"""Several gateway processes, one set of figures: ``switchyard serve`` processes sharing a
``PROMETHEUS_MULTIPROC_DIR`` each report the sum of all of them.

``switchyard serve`` runs one process; several on one machine (behind a load
balancer, or a supervisor's workers) share the directory. Counters and
histograms add up across them and outlive a process that stops; gauges are
per live process (a breaker's state counts once per process it is in), and
leave with it — at its clean shutdown, or at the next scrape after it was killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.observe.metrics_helpers import Scrape, chat_body, scrape
from tests.server.raw_http import request as raw_request

CONFIG = {
    "metrics": {"enabled": True, "flush_interval": 0.1},
    "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}},
}
JSON = {"content-type": "application/json"}


def _send(url: str, count: int) -> None:
    for _ in range(count):
        assert raw_request(url, "POST", "/v1/chat/completions", body=chat_body("chat"), headers=JSON).status == 200


def _until(url: str, done: Callable[[Scrape], bool], timeout: float = 15.0) -> Scrape:
    """Scrape until ``done`` holds: the other processes write theirs every flush_interval."""
    deadline = time.monotonic() + timeout
    while True:
        got = scrape(url)
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _gauge_files(directory: Path, pid: int) -> list[str]:
    return sorted(p.name for p in directory.glob(f"gauge_live*_{pid}.db"))


def _closed_breakers(got: Scrape) -> float:
    return got.value("switchyard_circuit_breaker_state", deployment="chat#0", state="closed")


def test_processes_sharing_a_directory_report_the_sum_of_all(tmp_path, start_gateway_process):
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    a = start_gateway_process(CONFIG, env=env)
    b = start_gateway_process(CONFIG, env=env)
    _send(a.url, 7)
    _send(b.url, 5)

    for url in (a.url, b.url):  # either one answers for both
        got = _until(url, lambda s: s.value("switchyard_requests_total") == 12 and _closed_breakers(s) == 2)
        assert got.value("switchyard_requests_total", alias="chat", status_class="2xx") == 12
        assert got.value("switchyard_request_duration_seconds_count", alias="chat") == 12
        assert got.value("switchyard_tokens_total", type="input") == 12 * 3
        assert _closed_breakers(got) == 2  # one breaker per process, both closed

    b.stop()  # a clean stop: its figures stay, its gauges go
    assert b.process is not None
    assert _gauge_files(directory, b.process.pid) == []
    got = scrape(a.url)
    assert got.value("switchyard_requests_total") == 12
    assert _closed_breakers(got) == 1

    c = start_gateway_process(CONFIG, env=env)
    _send(c.url, 3)
    got = _until(a.url, lambda s: s.value("switchyard_requests_total") == 15 and _closed_breakers(s) == 2)
    assert got.value("switchyard_requests_total") == 15
    assert c.process is not None
    assert _gauge_files(directory, c.process.pid)
    c.process.kill()  # no shutdown: the next scrape notices
    c.process.wait(10)
    got = scrape(a.url)
    assert got.value("switchyard_requests_total") == 15  # what it wrote stays counted
    assert _closed_breakers(got) == 1
    assert _gauge_files(directory, c.process.pid) == []


def test_without_the_directory_each_process_reports_its_own(start_gateway_process):
    a = start_gateway_process(CONFIG)
    b = start_gateway_process(CONFIG)
    _send(a.url, 2)
    _send(b.url, 1)
    assert scrape(a.url).value("switchyard_requests_total") == 2
    assert scrape(b.url).value("switchyard_requests_total") == 1
    assert scrape(a.url).value("process_resident_memory_bytes") > 0  # process figures: one process only
