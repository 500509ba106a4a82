"""OpenTelemetry tracing end to end: the official ``openai`` SDK through a real gateway
to the mock upstream, spans and metrics exported over OTLP/HTTP to a real receiver
on loopback (``otlp_receiver.py``), decoded with the official protobuf classes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from switchyard.core.call import Call, Kind
from switchyard.core.config import parse_config
from switchyard.observe import traceparent
from switchyard.observe.spans import TraceRecord
from switchyard.observe.tracing import Tracing
from tests.observe.otlp_receiver import OtlpReceiver, Span
from tests.server.raw_http import request as raw_request

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
HI = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        yield started


def _gateway(start_gateway: Any, mock: Any, receiver: OtlpReceiver, **tracing: Any) -> Any:
    return start_gateway({
        "tracing": {"endpoint": receiver.url, "export_interval": 0.05, "metrics_interval": 0.05, **tracing},
        "reliability": {"retry": {"attempts": 2, "base_delay": 0.001, "max_delay": 0.002}},
        "models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
                                             "api_key": "sk-upstream"}]}},
    })


def _client(gateway: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


def _by_kind(spans: list[Span]) -> tuple[Span, list[Span]]:
    servers = [s for s in spans if s.kind == 2]
    assert len(servers) == 1, spans
    return servers[0], [s for s in spans if s.kind == 3]


def test_a_request_is_a_server_span_over_a_client_span_and_the_traceparent_goes_both_ways(
        receiver, start_gateway, mock_upstream):
    gateway = _gateway(start_gateway, mock_upstream, receiver)
    answer = _client(gateway).chat.completions.with_raw_response.create(
        model="chat", messages=HI, max_tokens=50, temperature=0.5,
        extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
    request_id = answer.headers["x-request-id"]

    server, clients = _by_kind(receiver.wait_spans(2))
    assert (server.trace_id, server.parent_id) == (CLIENT_TRACE, CLIENT_SPAN)  # the client's trace, under its span
    assert server.name == "chat chat"
    assert server.attributes["gen_ai.operation.name"] == "chat"
    assert server.attributes["gen_ai.request.model"] == "chat"
    assert server.attributes["switchyard.alias"] == "chat"
    assert server.attributes["switchyard.deployment"] == "chat#0"
    assert server.attributes["switchyard.request_id"] == request_id
    assert server.attributes["http.response.status_code"] == 200
    assert server.status_code == 0 and "error.type" not in server.attributes
    assert server.resource["service.name"] == "switchyard"

    [client] = clients
    assert client.trace_id == CLIENT_TRACE and client.parent_id == server.span_id
    assert client.name == "chat gpt-4o-mini"
    assert server.start <= client.start <= client.end <= server.end
    attrs = client.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.request.max_tokens"] == 50 and attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.usage.input_tokens"] == answer.parse().usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == answer.parse().usage.completion_tokens
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == mock_upstream.mock.port
    # Content stays off unless asked for.
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for key in attrs)

    # Upstream, the request named the client span as its parent, in the client's trace.
    [upstream] = [r for r in mock_upstream.mock.requests if r.path.endswith("/chat/completions")]
    assert upstream.headers["traceparent"] == f"00-{CLIENT_TRACE}-{client.span_id}-01"


def test_a_retry_is_two_client_spans_each_sent_upstream_with_its_own_parent(receiver, start_gateway, mock_upstream):
    gateway = _gateway(start_gateway, mock_upstream, receiver)
    mock_upstream.set_faults(count=1, status=503)
    _client(gateway).chat.completions.create(model="chat", messages=HI)

    server, clients = _by_kind(receiver.wait_spans(3))
    assert len(clients) == 2 and server.parent_id == ""  # no traceparent from the client: a new root
    failed, served = sorted(clients, key=lambda s: s.start)
    assert failed.attributes["error.type"] == "UpstreamUnavailable" and failed.status_code == 2
    assert "error.type" not in served.attributes and served.status_code == 0
    assert served.attributes["gen_ai.usage.output_tokens"] > 0 and "gen_ai.usage.output_tokens" not in failed.attributes
    assert {failed.parent_id, served.parent_id} == {server.span_id}
    assert failed.end <= served.start
    assert server.attributes["switchyard.attempts"] == 2
    sent = [r.headers["traceparent"] for r in mock_upstream.mock.requests if r.path.endswith("/chat/completions")]
    assert sent == [f"00-{server.trace_id}-{failed.span_id}-01", f"00-{server.trace_id}-{served.span_id}-01"]


def test_a_stream_span_has_its_first_chunk_usage_and_reasoning_and_cache_tokens(receiver, start_gateway, mock_upstream):
    gateway = _gateway(start_gateway, mock_upstream, receiver)
    client = _client(gateway)
    long_prompt = [{"role": "user", "content": "a long and steady prefix " * 300}]
    for _ in range(2):  # the mock caches a prefix of 1024 tokens it has seen before
        client.chat.completions.create(model="chat", messages=long_prompt)
    stream = client.chat.completions.create(model="chat", messages=HI, stream=True, reasoning_effort="low",
                                            stream_options={"include_usage": True})
    usage = [chunk.usage for chunk in stream if chunk.usage is not None][-1]

    spans = receiver.wait_spans(6)
    second = [s for s in spans if s.kind == 3][1]
    assert second.attributes["gen_ai.usage.cache_read.input_tokens"] >= 1024
    streamed = [s for s in spans if s.kind == 3 and "gen_ai.response.time_to_first_chunk" in s.attributes]
    assert len(streamed) == 1
    attrs = streamed[0].attributes
    assert 0 < attrs["gen_ai.response.time_to_first_chunk"] <= (streamed[0].end - streamed[0].start) / 1e9
    assert attrs["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == usage.completion_tokens_details.reasoning_tokens > 0
    server = next(s for s in spans if s.kind == 2 and s.attributes["switchyard.stream"])
    assert server.end >= streamed[0].end  # the stream's try ends with the stream


def test_prompts_and_answers_are_recorded_only_when_asked(receiver, start_gateway, mock_upstream):
    gateway = _gateway(start_gateway, mock_upstream, receiver, capture_content=True, content_max_chars=200)
    client = _client(gateway)
    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "secret plans"}])
    "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "streamed words"}], stream=True) if c.choices)

    clients = [s for s in receiver.wait_spans(4) if s.kind == 3]
    unary, streamed = sorted(clients, key=lambda s: s.start)
    assert '"content":"secret plans"' in unary.attributes["gen_ai.input.messages"]
    assert "secret plans" in unary.attributes["gen_ai.output.messages"]  # the mock echoes
    assert '"role":"assistant"' in unary.attributes["gen_ai.output.messages"]
    assert "streamed words" in streamed.attributes["gen_ai.output.messages"]


def test_genai_metrics_count_every_try_by_its_outcome(receiver, start_gateway, mock_upstream):
    gateway = _gateway(start_gateway, mock_upstream, receiver)
    client = _client(gateway)
    mock_upstream.set_faults(count=1, status=503)
    client.chat.completions.create(model="chat", messages=HI)
    for _ in client.chat.completions.create(model="chat", messages=HI, stream=True):
        pass

    def complete(received: Any) -> bool:
        durations = received.metrics.get("gen_ai.client.operation.duration", [])
        return sum(count for _, count, _, _ in durations) == 3 and \
            "gen_ai.client.operation.time_to_first_chunk" in received.metrics

    metrics = receiver.wait(complete).metrics
    durations = {attrs.get("error.type"): count for attrs, count, _, _ in metrics["gen_ai.client.operation.duration"]}
    assert durations == {"UpstreamUnavailable": 1, None: 2}
    attrs = metrics["gen_ai.client.operation.duration"][0][0]
    assert {k: attrs[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")} == \
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
    tokens = {attrs["gen_ai.token.type"]: (count, total) for attrs, count, total, _ in
              metrics["gen_ai.client.token.usage"]}
    assert tokens["input"][0] == 2 and tokens["output"][0] == 2 and tokens["input"][1] > 0
    [(_, first_chunks, _, _)] = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert first_chunks == 1


def test_an_unsampled_trace_is_passed_on_and_counted_but_not_exported(receiver, start_gateway, mock_upstream):
    gateway = _gateway(start_gateway, mock_upstream, receiver)
    _client(gateway).chat.completions.create(model="chat", messages=HI,
                                              extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"})
    _client(gateway).chat.completions.create(model="chat", messages=HI)  # sampled: exported after the other
    spans = receiver.wait_spans(2)
    assert all(s.trace_id != CLIENT_TRACE for s in spans)
    [unsampled, _] = [r for r in mock_upstream.mock.requests if r.path.endswith("/chat/completions")]
    assert unsampled.headers["traceparent"].startswith(f"00-{CLIENT_TRACE}-")
    assert unsampled.headers["traceparent"].endswith("-00")
    metrics = receiver.wait(lambda r: sum(c for _, c, _, _ in r.metrics.get(
        "gen_ai.client.operation.duration", [])) == 2).metrics
    assert metrics


def test_a_collector_that_refuses_costs_spans_not_answers(receiver, start_gateway, mock_upstream):
    receiver.status = 400  # not worth retrying
    gateway = _gateway(start_gateway, mock_upstream, receiver)
    _client(gateway).chat.completions.create(model="chat", messages=HI)
    receiver.wait(lambda r: any(q["path"] == "/v1/traces" for q in r.requests))

    def failed() -> int:
        return raw_request(gateway.url, "GET", "/health/ready").json()["tracing"]["failed_spans"]

    receiver.wait(lambda r: failed() == 2)
    assert raw_request(gateway.url, "GET", "/health/ready").json()["tracing"]["exported_spans"] == 0


def test_a_full_buffer_drops_and_counts_without_waiting():
    config = parse_config({"tracing": {"endpoint": "http://127.0.0.1:9", "buffer": 16, "batch": 4},
                           "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}})
    tracing = Tracing(config, http=None)

    async def settle_twenty() -> None:
        for n in range(20):
            call = Call(f"req_{n}", kind=Kind.CHAT, trace=TraceRecord((n + 1).to_bytes(16, "big"), b"", True, 0))
            tracing.settled(call)

    asyncio.run(settle_twenty())
    assert tracing.status()["buffered"] == 16
    assert tracing.dropped == 4


@pytest.mark.parametrize(("value", "parsed"), [
    (f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", (bytes.fromhex(CLIENT_TRACE), bytes.fromhex(CLIENT_SPAN), 1)),
    (f"00-{CLIENT_TRACE.upper()}-{CLIENT_SPAN}-00", (bytes.fromhex(CLIENT_TRACE), bytes.fromhex(CLIENT_SPAN), 0)),
    (f"01-{CLIENT_TRACE}-{CLIENT_SPAN}-01-later-fields", (bytes.fromhex(CLIENT_TRACE), bytes.fromhex(CLIENT_SPAN), 1)),
    (f"00-{'0' * 32}-{CLIENT_SPAN}-01", None),  # all-zero trace id
    (f"00-{CLIENT_TRACE}-{'0' * 16}-01", None),  # all-zero parent
    (f"ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01", None),  # forbidden version
    (f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01-extra", None),  # version 00 has exactly four fields
    (f"00-{CLIENT_TRACE[:-1]}x-{CLIENT_SPAN}-01", None),
    ("garbage", None), (None, None),
])
def test_a_traceparent_is_taken_only_when_valid(value, parsed):
    assert traceparent.parse(value) == parsed


def test_a_malformed_traceparent_starts_a_trace_of_its_own(receiver, start_gateway, mock_upstream):
    gateway = _gateway(start_gateway, mock_upstream, receiver)
    _client(gateway).chat.completions.create(model="chat", messages=HI,
                                              extra_headers={"traceparent": "00-not-a-trace-01"})
    server, _ = _by_kind(receiver.wait_spans(2))
    assert server.parent_id == "" and len(server.trace_id) == 32 and server.trace_id != "0" * 32


PROBE = """
import sys
import switchyard
with switchyard.Client() as client:
    client.chat(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
    services = client._client.services
    stages = [type(s).__name__ for s in services.pipeline.stages]
    chain = [type(s).__name__ for d in services.catalog.deployments() for s in d.chain.stages]
print(sorted(m for m in sys.modules if m.startswith(("switchyard.observe.", "opentelemetry"))))
print(stages, chain)
"""


def test_tracing_off_adds_no_stage_no_policy_and_loads_nothing():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modules, stages = done.stdout.strip().splitlines()
    for absent in ("switchyard.observe.tracing", "switchyard.observe.spans", "switchyard.observe.otlp",
                   "switchyard.observe.slo", "opentelemetry"):
        assert absent not in modules
    assert "Traced" not in stages and "TracedAttempt" not in stages and "Authenticate" in stages
