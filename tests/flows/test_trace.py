"""A run is one trace: a root span, a span per step (a model step's with its model, tokens and
USD), a branch's steps under its span; the OTLP encoding decodes with the official classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from switchyard.flows import FlowEngine, Run
from switchyard.flows.trace import otlp_request
from switchyard.mock import MockUpstreamThread
from tests.flows import flowlib


async def traced(run: Run, _: object) -> list[int]:
    await run.model("ask", model="priced", messages=[{"role": "user", "content": "one two"}])
    return await run.map(flowlib.twice, [1])


@pytest.mark.asyncio
async def test_a_run_is_one_trace_with_a_span_per_step(tmp_path: Path) -> None:
    engine = FlowEngine(f"sqlite:///{tmp_path / 'f.db'}", config=flowlib.PRICED)
    engine.register("traced", traced)
    async with engine:
        await engine.run("traced", run_id="t-1")
        spans = await engine.trace("t-1")
    root, ask, branch, one, two = spans
    assert {s["trace_id"] for s in spans} == {root["trace_id"]}
    assert (root["name"], root["parent_span_id"]) == ("flow traced", None)
    assert root["attributes"]["flow.model_calls"] == 1
    assert ask["name"] == "ask" and ask["parent_span_id"] == root["span_id"]
    assert ask["attributes"]["gen_ai.request.model"] == "priced" and ask["attributes"]["flow.usd"] == 4.0
    assert branch["name"].startswith("branch t-1-") and branch["parent_span_id"] == root["span_id"]
    assert [one["name"], two["name"]] == ["one", "two"]
    assert one["parent_span_id"] == two["parent_span_id"] == branch["span_id"]
    assert all(s["start_ms"] <= s["end_ms"] for s in spans)

    decoded = ExportTraceServiceRequest.FromString(otlp_request(spans))
    sent = decoded.resource_spans[0].scope_spans[0].spans
    assert [s.name for s in sent] == [s["name"] for s in spans]
    assert sent[1].parent_span_id == sent[0].span_id
    assert {a.key: a.value.string_value for a in sent[1].attributes}["gen_ai.request.model"] == "priced"


async def asks(run: Run, _: object) -> list[str]:
    answer = await run.model("ask", model="chat", messages=[{"role": "user", "content": "traced"}])
    return [answer.text, *(await run.map(asks_in_a_branch, [1]))]


async def asks_in_a_branch(run: Run, _: object) -> str:
    return (await run.model("inner", model="chat", messages=[{"role": "user", "content": "inner"}])).text


@pytest.mark.asyncio
async def test_the_gateways_spans_of_a_model_step_join_the_runs_trace(tmp_path: Path) -> None:
    """With tracing: on, the upstream is asked with the run's trace id — the branch's call too."""
    with MockUpstreamThread() as mock:
        config = {"tracing": {"endpoint": "http://127.0.0.1:9"},  # nobody listens: exports fail, calls do not
                  "models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                       "base_url": mock.url + "/v1", "api_key": "sk-t"}]}}}
        engine = FlowEngine(f"sqlite:///{tmp_path / 'f.db'}", config=config)
        engine.register("asks", asks)
        async with engine:
            await engine.run("asks", run_id="traced-1")
            spans = await engine.trace("traced-1")
        assert mock.mock is not None
        sent = [r.headers.get("traceparent", "") for r in list(mock.mock.requests)]
    assert len(sent) == 2
    assert {header.split("-")[1] for header in sent} == {spans[0]["trace_id"]}


def test_the_cli_sends_a_runs_trace_to_an_otlp_collector(tmp_path: Path) -> None:
    import asyncio
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from switchyard.cli.main import main

    async def record() -> None:
        engine = FlowEngine(f"sqlite:///{tmp_path / 'f.db'}", config=flowlib.PRICED)
        engine.register("traced", traced)
        async with engine:
            await engine.run("traced", run_id="t-2")

    asyncio.run(record())
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            received.append((self.path, self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert main(["flow", "trace", "t-2", "--db", f"sqlite:///{tmp_path / 'f.db'}",
                     "--endpoint", f"http://127.0.0.1:{server.server_address[1]}"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    [(path, body)] = received
    assert path == "/v1/traces"
    names = [s.name for s in ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans]
    assert names[:2] == ["flow traced", "ask"] and names[-2:] == ["one", "two"]


def test_a_gateway_with_tracing_exports_each_finished_run_with_its_model_calls_in_one_trace(tmp_path: Path) -> None:
    from switchyard.server.runner import GatewayThread
    from tests.observe.otlp_receiver import OtlpReceiver
    from tests.server.raw_http import request

    flow = tmp_path / "hello.yaml"
    flow.write_text('name: hello\nsteps:\n  - {id: ask, model: fake/echo, prompt: "hello, traced"}\n'
                    'output: "${steps.ask.text}"\n')
    master = "sk-master-flows-traced"
    with OtlpReceiver() as receiver:
        config = {"auth": {"master_key": master},
                  "models": {"fake/echo": {"deployments": [{"provider": "fake", "model": "echo"}]}},
                  "tracing": {"endpoint": receiver.url, "export_interval": 0.05},
                  "flows": {"url": f"sqlite:///{tmp_path / 'flows.db'}", "definitions": {"hello": str(flow)}}}
        with GatewayThread(config) as gateway:
            started = request(gateway.url, "POST", "/admin/flows/runs", b'{"flow": "hello", "run_id": "traced-1"}',
                              {"authorization": f"Bearer {master}", "content-type": "application/json"})
            assert started.status == 201, started.body
            received = receiver.wait(lambda r: any(s.name == "flow hello" for s in r.spans)
                                     and any(s.kind == 2 for s in r.spans))
    spans = received.spans
    root = next(s for s in spans if s.name == "flow hello")
    ask = next(s for s in spans if s.name == "ask" and s.parent_id == root.span_id)
    gateway_server = next(s for s in spans if s.kind == 2)  # the gateway's own span of the model call
    assert root.trace_id == ask.trace_id == gateway_server.trace_id  # one trace: the run, its step, the call
    assert gateway_server.parent_id == ask.span_id
