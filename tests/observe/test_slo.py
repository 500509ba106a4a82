"""The SLO monitor: rolling windows, verdicts, one alert per breach and per recovery to a
real webhook on loopback, breaker alerts, ``GET /admin/slo`` and ``POST /v1/feedback``."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import orjson
import pytest

from switchyard.core.call import Attempt, Call
from switchyard.core.config import ConfigError, parse_config
from switchyard.core.config.reliability import BreakerConfig
from switchyard.core.errors import UpstreamError
from switchyard.observe.slo import SloMonitor
from switchyard.observe.slo_window import SLOTS, RollingWindow
from switchyard.policies.breaker import CircuitBreaker
from switchyard.transport import HttpClient
from tests.observe.metrics_helpers import scrape
from tests.server.raw_http import request as raw_request

MASTER = "sk-master-slo"
ALICE, BOB = "sk-alice-slo", "sk-bob-slo"
HI = [{"role": "user", "content": "hi"}]


class Webhook:
    """A webhook receiver on loopback: keeps each alert; ``wait(n)`` returns once n arrived."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with hook._arrived:
                    hook.alerts.append(orjson.loads(body))
                    hook._arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.alerts) >= count, timeout), self.alerts
            return list(self.alerts)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


# -- the window -------------------------------------------------------------------------------------

def test_events_leave_the_window_after_it_and_memory_does_not_grow():
    window = RollingWindow(30.0, bins=True)  # 1 s buckets
    for second in range(30):
        window.add(second + 0.5, bad=second < 10, value=0.1)
    assert (window.total, window.bad) == (30, 10)
    sizes = (len(window.totals), len(window.bads), len(window.bins or []))
    for n in range(100_000):  # a busy minute: the same few arrays
        window.add(30 + n / 10_000, bad=False, value=0.2)
    assert (len(window.totals), len(window.bads), len(window.bins or [])) == sizes == (SLOTS, SLOTS, SLOTS)
    window.advance(40.5)  # seconds 0 to 10 are out: the bad ones with them
    assert window.bad == 0 and window.total == 100_000 + 19
    window.advance(1000.0)  # long quiet: all gone
    assert (window.total, window.bad) == (0, 0)
    assert window.percentile(0.95) is None


def test_the_p95_estimate_is_within_a_bin_of_the_truth():
    window = RollingWindow(60.0, bins=True)
    for n in range(1000):
        window.add(1.0, bad=False, value=0.010 + n * 0.001)  # 10 ms .. 1009 ms: p95 ~ 959 ms
    p95 = window.percentile(0.95)
    assert p95 is not None and 0.959 <= p95 <= 0.959 * 1.1
    window.add(1.0, bad=False, value=10_000.0)
    assert window.percentile(1.0) == math.inf


# -- verdicts on synthetic calls, a fake clock -----------------------------------------------------------

def _monitor(objectives: list[dict[str, Any]], now: list[float], **slo: Any) -> SloMonitor:
    config = parse_config({"slo": {"objectives": objectives, **slo}, "models": {
        "chat": {"deployments": [{"id": "a", "provider": "fake", "model": "echo"},
                                 {"id": "b", "provider": "openai", "model": "gpt-4o", "api_key": "k"}]},
        "groq/*": {"deployments": [{"provider": "groq", "model": "*", "api_key": "k"}]}}})
    return SloMonitor(config, http=None, clock=lambda: now[0])


class _Group:
    def __init__(self, config: Any, alias: str = "chat") -> None:
        self.config = config
        self.alias = alias


def _call(monitor: SloMonitor, *, served: str | None = "a", error: Any = None, latency: float = 0.01,
          stream: bool = False, ttft: float = 0.0, attempts: list[Attempt] | None = None) -> Call:
    models = monitor._models
    call = Call("req", stream=stream, group=_Group(models["chat"]), error=error, attempts=attempts or [])
    call.started = time.perf_counter() - latency
    if ttft:
        call.first_chunk = call.started + ttft
    if served is not None:
        call.route["deployment"] = served
    return call


def _record(monitor: SloMonitor, call: Call) -> None:
    asyncio.run(monitor.record(call))


def _states(monitor: SloMonitor) -> dict[str, str]:
    return {w.name: w.state for w in monitor.watched}


def test_no_verdict_before_min_requests_and_a_breach_only_past_the_allowed_share():
    now = [100.0]
    objective = {"alias": "chat", "availability": 0.9, "min_requests": 10, "window": 60}
    early = _monitor([objective], now)
    early_sent: list[dict[str, Any]] = []
    early.alerts.send = early_sent.append  # type: ignore[method-assign]
    for _ in range(9):  # every one failed, but too few to judge
        _record(early, _call(early, error=UpstreamError("down")))
    assert _states(early) == {"alias=chat availability": "no_data"} and early_sent == []

    monitor = _monitor([objective], now)
    sent: list[dict[str, Any]] = []
    monitor.alerts.send = sent.append  # type: ignore[method-assign]
    for _ in range(45):
        _record(monitor, _call(monitor))
    for _ in range(5):
        _record(monitor, _call(monitor, error=UpstreamError("down")))
    assert _states(monitor) == {"alias=chat availability": "ok"} and sent == []  # 5 of 50: exactly the 10% allowed
    _record(monitor, _call(monitor, error=UpstreamError("down")))  # 6 of 51: past it
    assert [a["type"] for a in sent] == ["slo.breach"]
    for _ in range(20):  # still breached: no second alert
        _record(monitor, _call(monitor, error=UpstreamError("down")))
    assert len(sent) == 1
    report = monitor.report()["objectives"][0]
    assert report["state"] == "breached" and report["events"] == 71 and report["bad"] == 26
    assert report["value"] == pytest.approx(45 / 71, abs=1e-6)
    assert report["budget_burn"] == pytest.approx((26 / 71) / 0.1, abs=1e-3)
    now[0] += 61  # the window passes with no traffic: the tick's evaluation sees no data, and recovers
    monitor.evaluate()
    assert [a["type"] for a in sent] == ["slo.breach", "slo.recovered"]
    assert sent[1]["state"] == "no_data"


def test_a_client_error_counts_against_the_error_rate_not_availability():
    now = [0.0]
    monitor = _monitor([{"alias": "chat", "availability": 0.99, "min_requests": 1},
                        {"alias": "chat", "error_rate": 0.5, "min_requests": 1}], now)
    refused = UpstreamError("bad request", status=400)
    for _ in range(3):
        _record(monitor, _call(monitor, error=refused))
    assert _states(monitor) == {"alias=chat availability": "ok", "alias=chat error_rate": "breached"}


def test_latency_and_first_token_objectives_judge_on_their_threshold():
    now = [0.0]
    monitor = _monitor([{"alias": "chat", "latency_p95": 0.5, "min_requests": 20},
                        {"alias": "chat", "ttft_p95": 0.2, "min_requests": 20}], now)
    for _ in range(19):
        _record(monitor, _call(monitor, latency=0.1, stream=True, ttft=0.05))
    _record(monitor, _call(monitor, latency=2.0, stream=True, ttft=1.0))  # 1 of 20 slow: 5% is allowed
    assert _states(monitor) == {"alias=chat latency_p95": "ok", "alias=chat ttft_p95": "ok"}
    _record(monitor, _call(monitor, latency=2.0))  # unary: not a ttft event
    assert _states(monitor) == {"alias=chat latency_p95": "breached", "alias=chat ttft_p95": "ok"}
    report = {o["measure"]: o for o in monitor.report()["objectives"]}
    assert report["ttft_p95"]["events"] == 20 and report["latency_p95"]["events"] == 21
    assert report["latency_p95"]["value"] >= 2.0  # the p95 of 21 with 2 slow is a slow one


def test_deployment_and_provider_objectives_count_each_try():
    now = [0.0]
    monitor = _monitor([{"deployment": "a", "availability": 0.5, "min_requests": 2},
                        {"provider": "openai", "availability": 0.5, "min_requests": 2},
                        {"provider": "groq", "error_rate": 0.5, "min_requests": 1}], now)
    failed_on_a = [Attempt("a", 502, "down", UpstreamError("down"))]
    for _ in range(2):  # a failed, b served: a bad try for a, a good one for b's provider
        _record(monitor, _call(monitor, served="b", attempts=failed_on_a))
    assert _states(monitor) == {"deployment=a availability": "breached", "provider=openai availability": "ok",
                                "provider=groq error_rate": "no_data"}
    _record(monitor, _call(monitor, served="groq/llama-3#0", error=UpstreamError("x", status=429)))
    assert _states(monitor)["provider=groq error_rate"] == "breached"  # a wildcard's instance, by its pattern


def test_objectives_must_name_what_the_config_has():
    with pytest.raises(ConfigError, match="alias"):
        parse_config({"slo": {"objectives": [{"alias": "nope", "availability": 0.9}]}, "models": {}})
    with pytest.raises(ConfigError, match="deployment"):
        parse_config({"slo": {"objectives": [{"deployment": "nope#0", "availability": 0.9}]},
                      "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}})
    with pytest.raises(ConfigError, match="exactly one"):
        parse_config({"slo": {"objectives": [{"alias": "chat", "availability": 0.9, "error_rate": 0.1}]},
                      "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}})


# -- alerts to a real webhook ----------------------------------------------------------------------------

def test_a_breaker_trip_alerts_once_per_outage_and_its_close_once(webhook):
    async def run() -> None:
        now = [1000.0]
        async with HttpClient() as http:
            monitor = _monitor([], now, webhook=webhook.url)
            monitor.alerts.queue.http = http
            monitor.start()
            breaker = CircuitBreaker("chat#0", BreakerConfig(consecutive_failures=1, open_for=10),
                                     clock=lambda: now[0])
            breaker.subscribe(changed=monitor.breaker_changed)
            breaker.record_failure(UpstreamError("down"))  # trips
            now[0] += 11
            assert breaker.acquire()  # half-open: a probe
            breaker.record_failure(UpstreamError("still down"))  # trips again: the same outage
            now[0] += 11
            assert breaker.acquire()
            breaker.record_success()  # closes
            await monitor.alerts.flushed()
            await monitor.aclose()

    asyncio.run(run())
    alerts = webhook.wait(2)
    assert [(a["type"], a["deployment"]) for a in alerts] == [("breaker.open", "chat#0"), ("breaker.closed", "chat#0")]
    assert "down" in alerts[0]["last_failure"]


def test_through_a_gateway_a_breach_sends_one_alert_and_its_recovery_one(start_gateway, mock_upstream, webhook):
    gateway = start_gateway({
        "slo": {"webhook": webhook.url, "objectives": [
            {"alias": "chat", "availability": 0.9, "min_requests": 10, "window": 300}]},
        "reliability": {"retry": {"attempts": 1}, "breaker": {"enabled": False}},
        "models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                             "base_url": mock_upstream.base_url, "api_key": "sk-up"}]}},
    })
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)

    def slo() -> dict[str, Any]:
        return raw_request(gateway.url, "GET", "/admin/slo").json()

    def fail(times: int) -> None:
        mock_upstream.set_faults(count=times, status=500)
        for _ in range(times):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="chat", messages=HI)

    for _ in range(18):
        client.chat.completions.create(model="chat", messages=HI)
    fail(2)  # 2 of 20: exactly what 0.9 allows
    objective = slo()["objectives"][0]
    assert (objective["state"], objective["events"], objective["bad"]) == ("ok", 20, 2)
    assert slo()["alerts"]["raised"] == 0  # nothing before the threshold
    fail(3)  # 5 of 23: breached, one alert however many failures follow
    alerts = webhook.wait(1)
    assert alerts[0]["type"] == "slo.breach" and alerts[0]["objective"] == "alias=chat availability"
    assert alerts[0]["scope"] == {"alias": "chat"} and (alerts[0]["events"], alerts[0]["bad"]) == (21, 3)
    for _ in range(30):  # good answers dilute the window: 5 of 53 is under 10%
        client.chat.completions.create(model="chat", messages=HI)
    alerts = webhook.wait(2)
    assert [a["type"] for a in alerts] == ["slo.breach", "slo.recovered"]
    assert slo()["objectives"][0]["state"] == "ok" and slo()["alerts"]["delivered"] == 2


# -- feedback ------------------------------------------------------------------------------------------------

def test_feedback_scores_an_answer_of_the_callers_own_per_alias(start_gateway):
    gateway = start_gateway({
        "auth": {"master_key": MASTER, "keys": [{"key": ALICE, "name": "alice"}, {"key": BOB, "name": "bob"}]},
        "metrics": {"enabled": True},
        "slo": {},
        "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}},
    })
    alice = openai.OpenAI(base_url=gateway.url + "/v1", api_key=ALICE, max_retries=0)
    answered = alice.chat.completions.with_raw_response.create(model="chat", messages=HI)
    request_id = answered.headers["x-request-id"]

    def feedback(key: str, body: Any) -> Any:
        return raw_request(gateway.url, "POST", "/v1/feedback", orjson.dumps(body),
                           {"authorization": f"Bearer {key}", "content-type": "application/json"})

    bob = feedback(BOB, {"request_id": request_id, "score": 0.1})
    assert bob.status == 404 and bob.json()["error"]["code"] == "request_not_found"  # not bob's answer
    scored = feedback(ALICE, {"request_id": request_id, "score": 0.8})
    assert scored.status == 200, scored.body
    assert scored.json() == {"object": "feedback", "request_id": request_id, "alias": "chat", "score": 0.8}
    assert feedback(ALICE, {"request_id": request_id, "score": 0.6}).status == 200  # scored again: replaced
    for body, param in (({"request_id": request_id, "score": 1.5}, "score"),
                        ({"request_id": request_id, "score": True}, "score"),
                        ({"request_id": "", "score": 0.5}, "request_id"),
                        ({"request_id": request_id, "score": 0.5, "comment": "x"}, "comment")):
        refused = feedback(ALICE, body)
        assert refused.status == 400 and refused.json()["error"]["param"] == param, body
    assert feedback(ALICE, {"request_id": "req_unknown", "score": 0.5}).status == 404

    report = raw_request(gateway.url, "GET", "/admin/slo", headers={"authorization": f"Bearer {MASTER}"}).json()
    assert report["feedback"] == {"chat": {"count": 1, "mean": 0.6}}
    assert raw_request(gateway.url, "GET", "/admin/slo", headers={"authorization": f"Bearer {ALICE}"}).status == 403
    got = scrape(gateway.url, headers={"authorization": f"Bearer {MASTER}"})
    assert got.value("switchyard_feedback_score_count", alias="chat") == 2
    assert got.value("switchyard_feedback_score_sum", alias="chat") == pytest.approx(1.4)
