"""Prometheus metrics end to end: a real gateway on loopback, scraped at ``GET /metrics``.

What a request leaves behind — counts by alias, deployment, provider and
status class; durations, overhead, time to first token and between chunks;
tokens; upstream operations by error type; retries and fallbacks; breaker
trips; queue depth and wait; refusals; open upstream connections — and that
the labels stay bounded whatever clients send.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest

import switchyard
from switchyard.core.call import Call
from switchyard.core.config import parse_config
from switchyard.core.messages import validate_chat
from switchyard.core.registry import StageRegistry
from switchyard.core.stage import Streaming, Unary
from switchyard.observe.metrics import Metrics
from switchyard.observe.tally import HistogramTally
from tests.observe.metrics_helpers import Scrape, chat_body, scrape
from tests.server.raw_http import request as raw_request

CHAT = "/v1/chat/completions"
JSON = {"content-type": "application/json"}


def _models() -> dict[str, Any]:
    return {
        "chat": {"deployments": [{"provider": "fake", "model": "echo"}]},
        "flaky": {"deployments": [{"id": "down", "provider": "fake", "model": "fail"},
                                  {"id": "up", "provider": "fake", "model": "echo"}]},
        "broken": {"deployments": [{"provider": "fake", "model": "break"}]},
        "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
    }


def _gateway(start_gateway: Any, **extra: Any) -> Any:
    return start_gateway({"metrics": {"enabled": True}, "models": _models(),
                          "reliability": {"retry": {"attempts": 2, "base_delay": 0.001, "max_delay": 0.002}},
                          **extra})


def test_a_request_is_counted_with_its_alias_deployment_provider_and_status(start_gateway):
    gateway = _gateway(start_gateway)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "one two three"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    bad = raw_request(gateway.url, "POST", CHAT, body=b"{not json", headers=JSON)
    assert bad.status == 400

    got = scrape(gateway.url)
    assert got.value("switchyard_requests_total", alias="chat", deployment="chat#0", provider="fake",
                     status_class="2xx") == 3
    # The unknown model and the malformed body: counted, with no name a client chose.
    assert got.value("switchyard_requests_total", alias="other", deployment="none", status_class="4xx") == 2
    assert got.value("switchyard_request_duration_seconds_count", alias="chat", stream="false") == 3
    assert got.value("switchyard_gateway_overhead_seconds_count", alias="chat", stream="false") == 3
    assert got.value("switchyard_tokens_total", alias="chat", type="input") == 9  # the fake counts words
    assert got.value("switchyard_tokens_total", alias="chat", type="output") == 9
    assert got.value("gen_ai_client_token_usage_sum", gen_ai_token_type="input", gen_ai_provider_name="fake",
                     gen_ai_operation_name="chat", gen_ai_request_model="echo") == 9
    assert got.value("gen_ai_client_operation_duration_seconds_count", deployment="chat#0", error_type="") == 3
    assert got.value("switchyard_requests_in_flight") == 0


def test_durations_add_up_whole_equals_upstream_plus_overhead(start_gateway):
    gateway = start_gateway({"metrics": {"enabled": True},
                             "models": {"slow": {"deployments": [{"provider": "fake", "model": "slow",
                                                                  "options": {"first_delay": 0.05}}]}}})
    raw_request(gateway.url, "POST", CHAT, body=chat_body("slow", "a"), headers=JSON)
    got = scrape(gateway.url)
    whole = got.value("switchyard_request_duration_seconds_sum", alias="slow")
    upstream = got.value("gen_ai_client_operation_duration_seconds_sum", deployment="slow#0")
    overhead = got.value("switchyard_gateway_overhead_seconds_sum", alias="slow")
    assert upstream >= 0.05 and whole >= upstream
    assert math.isclose(whole, upstream + overhead, abs_tol=1e-6)
    assert overhead < 0.05  # the wait is the upstream's, not the gateway's


def test_streams_report_first_token_chunk_gaps_and_the_upstream_operation(start_gateway):
    gateway = _gateway(start_gateway)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    words = "one two three four five six seven eight"
    for _ in range(2):
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="chat", stream=True, messages=[{"role": "user", "content": words}]) if c.choices)
        assert text.split() == words.split()
    got = scrape(gateway.url)
    assert got.value("switchyard_requests_total", alias="chat", status_class="2xx") == 2
    assert got.value("switchyard_time_to_first_token_seconds_count", alias="chat") == 2
    assert got.value("switchyard_request_duration_seconds_count", alias="chat", stream="true") == 2
    assert got.value("switchyard_time_per_output_chunk_seconds_count", alias="chat") >= 2
    assert got.value("gen_ai_client_operation_time_to_first_chunk_seconds_count", deployment="chat#0") == 2
    assert got.value("gen_ai_client_operation_duration_seconds_count", deployment="chat#0", error_type="") == 2
    # ... and the operation lasts the stream: at least its first chunk
    assert (got.value("gen_ai_client_operation_duration_seconds_sum", deployment="chat#0")
            >= got.value("gen_ai_client_operation_time_to_first_chunk_seconds_sum", deployment="chat#0"))


def test_a_stream_broken_after_its_first_chunk_counts_as_a_5xx_and_an_upstream_error(start_gateway):
    gateway = _gateway(start_gateway)
    response = raw_request(gateway.url, "POST", CHAT, headers=JSON,
                           body=chat_body("broken", "one two three four five six", stream=True))
    assert response.status == 200 and b'"error"' in response.body
    got = scrape(gateway.url)
    assert got.value("switchyard_requests_total", alias="broken", status_class="5xx") == 1
    assert got.value("gen_ai_client_operation_duration_seconds_count", deployment="broken#0",
                     error_type="UpstreamProtocolError") + got.value(
        "gen_ai_client_operation_duration_seconds_count", deployment="broken#0", error_type="StreamInterrupted") == 1


def test_retries_fallbacks_and_upstream_errors_by_type(start_gateway):
    gateway = _gateway(start_gateway)
    for _ in range(4):  # round robin: two of them try `down` first
        assert raw_request(gateway.url, "POST", CHAT, body=chat_body("flaky"), headers=JSON).status == 200
    got = scrape(gateway.url)
    assert got.value("switchyard_requests_total", alias="flaky", deployment="up", status_class="2xx") == 4
    assert got.value("switchyard_retries_total", deployment="down") == 2  # attempts: 2 -> one retry each
    assert got.value("switchyard_fallbacks_total", alias="flaky", deployment="down") == 2
    assert got.value("gen_ai_client_operation_duration_seconds_count", deployment="down",
                     error_type="UpstreamUnavailable") == 2
    assert got.value("switchyard_fallbacks_total", deployment="up") == 0


def test_breaker_trips_are_counted_and_its_state_shown(start_gateway):
    gateway = start_gateway({
        "metrics": {"enabled": True},
        "models": {"down": {"deployments": [{"id": "d1", "provider": "fake", "model": "fail"}]}},
        "reliability": {"retry": {"attempts": 1}, "breaker": {"consecutive_failures": 2, "open_for": 60}},
    })
    statuses = [raw_request(gateway.url, "POST", CHAT, body=chat_body("down"), headers=JSON).status
                for _ in range(3)]
    assert statuses == [502, 502, 503]  # the third meets the open breaker
    got = scrape(gateway.url)
    assert got.value("switchyard_circuit_breaker_transitions_total", deployment="d1", state="open") == 1
    assert got.value("switchyard_circuit_breaker_state", deployment="d1", state="open") == 1
    assert got.value("switchyard_circuit_breaker_state", deployment="d1", state="closed") == 0
    assert got.value("switchyard_requests_total", alias="down", status_class="5xx") == 3
    assert got.value("gen_ai_client_operation_duration_seconds_count", deployment="d1",
                     error_type="CircuitOpen") == 1


def test_limit_rejections_are_counted_by_reason(start_gateway):
    gateway = _gateway(start_gateway, limits={"rules": [{"scope": "global", "rpm": 1}]})
    assert raw_request(gateway.url, "POST", CHAT, body=chat_body("chat"), headers=JSON).status == 200
    assert raw_request(gateway.url, "POST", CHAT, body=chat_body("chat"), headers=JSON).status == 429
    got = scrape(gateway.url)
    assert got.value("switchyard_rejected_requests_total", alias="chat", reason="limit") == 1
    assert got.value("switchyard_requests_total", alias="chat", deployment="none", status_class="4xx") == 1


def test_cost_as_the_gateway_prices_it(start_gateway):
    gateway = start_gateway({"metrics": {"enabled": True}, "models": {"priced": {"deployments": [
        {"provider": "fake", "model": "echo", "price": {"input": 1.0, "output": 2.0}}]}}})
    for _ in range(4):
        response = raw_request(gateway.url, "POST", CHAT, body=chat_body("priced", "one two three"), headers=JSON)
        assert response.status == 200
    got = scrape(gateway.url)
    per_request = (3 * 1.0 + 3 * 2.0) / 1e6  # $ per million tokens; the fake counts words
    assert math.isclose(got.value("switchyard_cost_usd_total", alias="priced", deployment="priced#0"),
                        4 * per_request, rel_tol=1e-9)
    assert float(response.headers["x-switchyard-cost-usd"]) == pytest.approx(per_request)


def test_open_upstream_connections(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    gateway = start_gateway({"metrics": {"enabled": True}, "models": {"gpt": {"deployments": [openai_deployment(mock)]}}})
    assert raw_request(gateway.url, "POST", CHAT, body=chat_body("gpt"), headers=JSON).status == 200
    got = scrape(gateway.url)
    port = mock.base_url.rsplit(":", 1)[1].split("/")[0]
    assert got.value("http_client_open_connections", http_connection_state="idle", server_address="127.0.0.1",
                     server_port=port) == 1
    assert got.value("http_client_open_connections", http_connection_state="active") == 0
    assert got.value("gen_ai_client_operation_duration_seconds_count", gen_ai_provider_name="openai",
                     gen_ai_request_model="gpt-4o-mini") == 1


# -- the labels stay bounded --------------------------------------------------------------------------

async def _load(url: str, bodies: list[bytes], concurrency: int = 32) -> list[int]:
    import aiohttp

    statuses: list[int] = []
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession(headers=JSON) as session:
        async def worker() -> None:
            while queue:
                body = queue.pop()
                async with session.post(url + CHAT, data=body) as response:
                    await response.read()
                    statuses.append(response.status)

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=240)
    return statuses


def _mixed(start: int, count: int) -> list[bytes]:
    """Requests with a distinct user each and, for most, a distinct model name: a known alias,
    a wildcard's instance, a name nothing serves; some streamed."""
    out = []
    for i in range(start, start + count):
        model = ("chat", f"fake/user-model-{i}", f"made-up-{i}")[i % 3]
        out.append(chat_body(model, f"hello {i}", user=f"user-{i}", stream=i % 4 == 0))
    return out


@pytest.mark.timeout(300)
def test_ten_thousand_requests_with_distinct_users_and_models_leave_the_exposition_flat(start_gateway):
    gateway = _gateway(start_gateway)
    first = asyncio.run(_load(gateway.url, _mixed(0, 1000)))
    assert sorted(set(first)) == [200, 404]
    before = scrape(gateway.url)
    rest = asyncio.run(_load(gateway.url, _mixed(1000, 9000)))
    assert len(first) + len(rest) == 10_000
    after = scrape(gateway.url)

    assert after.value("switchyard_requests_total") == 10_000
    assert after.series() == before.series()  # not one new series
    assert len(after.text) <= len(before.text) * 1.02, (len(before.text), len(after.text))  # only digits grow
    assert after.label_values("alias", ["switchyard_requests_total"]) == {"chat", "fake/*", "other"}
    assert "user-" not in after.text and "made-up" not in after.text
    assert after.label_values("gen_ai_request_model") <= {"echo", "other"}


# -- who may read them ------------------------------------------------------------------------------

MASTER = "sk-master-metrics-0001"
TOKEN = "scrape-token-0123456789"


@pytest.mark.parametrize(("metrics", "auth", "headers", "status"), [
    ({}, {}, {}, 200),                                                         # an open gateway
    ({}, {"master_key": MASTER}, {}, 401),
    ({}, {"master_key": MASTER}, {"authorization": f"Bearer {MASTER}"}, 200),
    ({}, {"master_key": MASTER, "keys": [{"key": "sk-client-1", "name": "c"}]},
     {"authorization": "Bearer sk-client-1"}, 403),                           # a client key is not enough
    ({"token": TOKEN}, {}, {}, 401),                                           # a token protects an open gateway
    ({"token": TOKEN}, {}, {"authorization": f"Bearer {TOKEN}"}, 200),
    ({"token": TOKEN}, {}, {"authorization": "Bearer wrong-token-000000"}, 401),
    ({"token": TOKEN}, {"master_key": MASTER}, {"authorization": f"Bearer {TOKEN}"}, 200),
    ({"token": TOKEN}, {"master_key": MASTER}, {"authorization": f"Bearer {MASTER}"}, 200),
    ({"public": True}, {"master_key": MASTER}, {}, 200),
])
def test_who_may_read_the_metrics(start_gateway, metrics, auth, headers, status):
    gateway = start_gateway({"metrics": {"enabled": True, **metrics}, "auth": auth, "models": _models()})
    response = raw_request(gateway.url, "GET", "/metrics", headers=headers)
    assert response.status == status, response.body
    body = response.body.decode()
    if status == 200:
        assert "switchyard_requests_in_flight" in body
        assert response.headers["content-type"].startswith("text/plain")
    for secret in (MASTER, TOKEN):
        assert secret not in body


def test_metrics_off_means_no_route(start_gateway):
    gateway = start_gateway({"models": _models()})
    assert raw_request(gateway.url, "GET", "/metrics").status == 404


def test_openmetrics_when_the_scraper_asks_for_it(start_gateway):
    gateway = _gateway(start_gateway)
    response = raw_request(gateway.url, "GET", "/metrics",
                           headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.body.rstrip().endswith(b"# EOF")


# -- in-process: the settle seam, cost, queue, tallies -----------------------------------------------

class CoalescedCall(Call):
    """A call as the coalescing stage may leave it (``coalesced``)."""

    __slots__ = ("coalesced",)

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.coalesced = False


class Pricing:
    """A stage that reprices the call in a settler of its own and marks it coalesced and a cache miss."""

    def _register(self, call: Call) -> None:
        async def priced(done: Any) -> None:
            done.cost = 0.125 * (done.usage.total_tokens if done.usage else 0)
            done.coalesced = True
            done.route["cache"] = "miss"

        call.on_settle(priced)

    async def unary(self, call: Call, next: Unary) -> Any:
        self._register(call)
        return await next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        self._register(call)
        return await next(call)


def test_cost_coalescing_and_cache_set_by_inner_settlers_are_seen():
    async def body() -> str:
        registry = StageRegistry({"pricing": lambda options, context: Pricing()}, use_entry_points=False)
        config = {"metrics": {"enabled": True}, "models": _models(),
                  "pipeline": {"stages": [{"name": "pricing", "after": "resolve"}]}}
        async with switchyard.AsyncClient(config, stages=registry) as client:
            request = validate_chat({"model": "chat", "messages": [{"role": "user", "content": "a b c d"}]})
            for i in range(2):
                await client.services.pipeline.chat(request, CoalescedCall(f"c{i}"))
            return client.services.metrics.exposition()[0].decode()

    got = Scrape(asyncio.run(body()))
    assert got.value("switchyard_cost_usd_total", alias="chat", deployment="chat#0") == 2 * 0.125 * 8
    assert got.value("switchyard_coalesced_requests_total", alias="chat") == 2
    assert got.value("switchyard_cache_requests_total", alias="chat", result="miss") == 2


def test_queue_depth_while_waiting_and_the_wait_once_admitted():
    async def body() -> tuple[str, str]:
        config = {"metrics": {"enabled": True},
                  "models": {"slow": {"deployments": [{"provider": "fake", "model": "slow",
                                                       "options": {"first_delay": 0.2}}]}},
                  "limits": {"queue": {"concurrency": 1, "max_size": 10, "max_wait": 5}}}
        async with switchyard.AsyncClient(config) as client:
            services = client.services
            queue = services.admission.admission.queue
            request = validate_chat({"model": "slow", "messages": [{"role": "user", "content": "a"}]})
            tasks = [asyncio.ensure_future(services.pipeline.chat(request, Call(f"q{i}"))) for i in range(3)]
            for _ in range(1000):  # until two wait behind the first
                if queue.size == 2:
                    break
                await asyncio.sleep(0)
            waiting = services.metrics.exposition()[0].decode()
            await asyncio.gather(*tasks)
            return waiting, services.metrics.exposition()[0].decode()

    waiting, done = (Scrape(text) for text in asyncio.run(body()))
    assert waiting.value("switchyard_queue_depth", queue="concurrency") == 2
    assert waiting.value("switchyard_requests_in_flight") == 3
    assert done.value("switchyard_queue_depth", queue="concurrency") == 0
    assert done.value("switchyard_queue_wait_seconds_count", alias="slow") == 3
    assert done.value("switchyard_queue_wait_seconds_sum", alias="slow") >= 0.2 + 0.4  # 2nd waited one, 3rd two


def test_tallies_give_the_same_exposition_as_observing_directly():
    bounds = (0.01, 0.1, 1.0)
    values = [0.0, 0.01, 0.010001, 0.05, 0.1, 0.5, 1.0, 2.0, 1e9]

    def exposition(via_tally: bool) -> bytes:
        registry = CollectorRegistry()
        family = Histogram("h_seconds", "h", ["a"], registry=registry, buckets=bounds)
        if via_tally:
            tally = HistogramTally(family, ("x",), bounds)
            for value in values[:4]:
                tally.observe(value)
            tally.flush()
            for value in values[4:]:
                tally.observe(value)
            tally.flush()
            tally.flush()  # nothing new: nothing added
        else:
            for value in values:
                family.labels("x").observe(value)
        return b"\n".join(line for line in generate_latest(registry).splitlines() if b"_created" not in line)

    assert exposition(True) == exposition(False)


def test_metrics_section_is_checked():
    from switchyard.core.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config({"metrics": {"enabled": True, "token": "short", "buckets": {"request": [1, 0.5]}}})
    text = str(caught.value)
    assert "metrics.token: " in text and "16 characters" in text
    assert "metrics.buckets.request: " in text and "increasing" in text
    assert "short" not in text  # a secret, even a bad one, is not echoed
    with pytest.raises(ConfigError, match="metrics: .*choose one"):
        parse_config({"metrics": {"public": True, "token": TOKEN}})


def test_a_multiprocess_directory_that_is_not_one_is_named(tmp_path, monkeypatch):
    from switchyard.core.config import ConfigError

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR: is not a directory"):
        Metrics(parse_config({"metrics": {"enabled": True}}))


def test_refusals_are_named_by_the_gateway_not_by_upstreams():
    from switchyard.core.errors import (
        BudgetExceeded,
        DeploymentSaturated,
        InvalidRequest,
        RateLimited,
        UpstreamRateLimited,
    )
    from switchyard.observe.labels import rejection

    assert rejection(BudgetExceeded("spent", budget="key=k daily")) == "budget"
    assert rejection(RateLimited("full", code="queue_full")) == "queue_full"
    assert rejection(RateLimited("limited")) == "limit"
    assert rejection(DeploymentSaturated("busy")) == "deployment_capacity"
    assert rejection(UpstreamRateLimited("theirs")) is None  # the upstream's 429 is not the gateway's refusal
    assert rejection(InvalidRequest("bad")) is None
