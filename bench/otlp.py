"""What turning a traced call into OTLP bytes costs, four ways: ``python -m bench.otlp``.

One call as the gateway records it — a SERVER span and a CLIENT span with the
GenAI attributes (``observe/span_encoding.py``) — encoded 2,000 times by:

- the gateway's encoder (``SpanEncoder``: a deployment's constant attributes
  encoded once, the rest joined as bytes);
- ``opentelemetry-proto``'s message classes (upb), building every message;
- the SDK's ``ReadableSpan`` objects and the OTLP exporter's ``encode_spans``,
  built only in the exporter's batch;
- an SDK tracer replaying each span (``start_span``/``end`` with their times)
  into a span processor whose exporter encodes as the OTLP exporter does.

Prints the best of five runs in µs of CPU per call (two spans). The gateway
encodes in its own process, so this is throughput the gateway gives up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

ROUNDS = 5
CALLS = 2000


def records(count: int = CALLS) -> list[Any]:
    from switchyard.core.config import parse_config
    from switchyard.core.messages import Usage
    from switchyard.observe.labels import AliasLabels
    from switchyard.observe.span_encoding import SpanSite
    from switchyard.observe.spans import TraceRecord

    class Adapter:
        base_url = "https://api.openai.com/v1"

    config = parse_config({"models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                                "api_key": "sk-bench"}]}}})
    deployment = config.models["chat"].deployments[0]
    site = SpanSite("chat#0", "chat", deployment, Adapter(), AliasLabels(config.models).deployment(
        "chat#0", "chat", deployment))
    out = []
    for n in range(count):
        record = TraceRecord((0x0AF7651916CD43DD8448EB211C80319C + n).to_bytes(16, "big"),
                             (0xB7AD6B7169203331).to_bytes(8, "big"), True, 1_000_000 + n)
        record.end, record.requested, record.alias, record.deployment = 9_000_000 + n, "chat", "chat", "chat#0"
        record.request_id, record.cost, record.max_tokens = f"req_985678ecfbff{n:012d}", 0.0000033, 256
        record.op, record.stream, record.status, record.usage, record.error, record.code = 0, False, 200, None, None, None
        record.temperature = record.top_p = record.input = None
        usage = Usage(prompt_tokens=1200 + n % 500, completion_tokens=200 + n % 300, cached_tokens=1024,
                      reasoning_tokens=64)
        record.attempts.append((site, (0x3E048A5AF0B771A4 + n).to_bytes(8, "big"), 2_000_000 + n, 0, 8_000_000 + n,
                                None, None, usage, "gpt-4o-mini", f"chatcmpl-{n:024d}", "stop", None))
        out.append(record)
    return out


def _attributes(record: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    _, _, _, _, _, _, _, usage, model, response_id, finish, _ = record.attempts[0]
    server = {"gen_ai.operation.name": "chat", "gen_ai.request.model": record.requested, "switchyard.alias": "chat",
              "switchyard.deployment": "chat#0", "switchyard.stream": False, "http.response.status_code": 200,
              "switchyard.attempts": 1, "switchyard.request_id": record.request_id, "switchyard.cost_usd": record.cost}
    client = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
              "server.address": "api.openai.com", "server.port": 443, "switchyard.deployment": "chat#0",
              "switchyard.alias": "chat", "gen_ai.request.max_tokens": 256,
              "gen_ai.usage.input_tokens": usage.prompt_tokens, "gen_ai.usage.output_tokens": usage.completion_tokens,
              "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
              "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens, "gen_ai.response.model": model,
              "gen_ai.response.id": response_id, "gen_ai.response.finish_reasons": (finish,)}
    return server, client


def ways(records: list[Any]) -> dict[str, Callable[[], Any]]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, set_span_in_context

    from switchyard.observe.span_encoding import SpanEncoder

    encoder = SpanEncoder()
    resource = Resource.create({"service.name": "switchyard"})
    scope = InstrumentationScope("switchyard", "0.1.0")
    attributes = [_attributes(r) for r in records]

    def gateway() -> None:
        out: list[bytes] = []
        for record in records:
            encoder.encode(record, 0, out)

    def value(v: Any) -> Any:
        if isinstance(v, str):
            return common_pb2.AnyValue(string_value=v)
        if isinstance(v, bool):
            return common_pb2.AnyValue(bool_value=v)
        if isinstance(v, int):
            return common_pb2.AnyValue(int_value=v)
        if isinstance(v, tuple):
            return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[value(x) for x in v]))
        return common_pb2.AnyValue(double_value=v)

    def proto() -> bytes:
        spans = []
        for record, (server, client) in zip(records, attributes):
            trace_id = record.trace_id
            _, span_id_bytes, start_ns, _, end_ns = record.attempts[0][:5]
            for span_id, parent, name, kind, attrs, start, end in (
                    (record.span_id, record.parent_id, "chat chat", 2, server, record.start, record.end),
                    (span_id_bytes, record.span_id, "chat gpt-4o-mini", 3, client, start_ns, end_ns)):
                spans.append(trace_pb2.Span(
                    trace_id=trace_id, span_id=span_id, parent_span_id=parent,
                    name=name, kind=kind, start_time_unix_nano=start, end_time_unix_nano=end,
                    attributes=[common_pb2.KeyValue(key=k, value=value(v)) for k, v in attrs.items()]))
        return trace_pb2.ScopeSpans(spans=spans).SerializeToString()

    def readable() -> bytes:
        spans = []
        for record, (server, client) in zip(records, attributes):
            _, attempt_id, attempt_start, _, attempt_end = record.attempts[0][:5]
            trace_id = int.from_bytes(record.trace_id, "big")
            parent = SpanContext(trace_id, int.from_bytes(record.parent_id, "big"), True, TraceFlags(1))
            own = SpanContext(trace_id, int.from_bytes(record.span_id, "big"), False, TraceFlags(1))
            spans.append(ReadableSpan(name="chat chat", context=own, parent=parent, resource=resource,
                                      attributes=server, kind=SpanKind.SERVER, start_time=record.start,
                                      end_time=record.end, instrumentation_scope=scope))
            spans.append(ReadableSpan(name="chat gpt-4o-mini", parent=own, resource=resource, attributes=client,
                                      context=SpanContext(trace_id, int.from_bytes(attempt_id, "big"), False,
                                                          TraceFlags(1)),
                                      kind=SpanKind.CLIENT, start_time=attempt_start, end_time=attempt_end,
                                      instrumentation_scope=scope))
        return encode_spans(spans).SerializePartialToString()  # type: ignore[no-any-return]

    class Encoding(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            encode_spans(spans).SerializePartialToString()
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(Encoding()))
    tracer = provider.get_tracer("switchyard")

    def replayed() -> None:
        for record, (server, client) in zip(records, attributes):
            _, _, attempt_start, _, attempt_end = record.attempts[0][:5]
            remote = set_span_in_context(NonRecordingSpan(SpanContext(
                int.from_bytes(record.trace_id, "big"), int.from_bytes(record.parent_id, "big"), True, TraceFlags(1))))
            outer = tracer.start_span("chat chat", context=remote, kind=SpanKind.SERVER, attributes=server,
                                      start_time=record.start)
            inner = tracer.start_span("chat gpt-4o-mini", context=set_span_in_context(outer), kind=SpanKind.CLIENT,
                                      attributes=client, start_time=attempt_start)
            inner.end(end_time=attempt_end)
            outer.end(end_time=record.end)

    return {"the gateway's encoder": gateway, "opentelemetry-proto messages": proto,
            "SDK ReadableSpan + encode_spans": readable, "SDK tracer replay": replayed}


def main() -> None:
    calls = records()
    for name, way in ways(calls).items():
        way()
        best = min(_timed(way) for _ in range(ROUNDS))
        print(f"{name:34} {best / len(calls) * 1e6:7.1f} µs CPU per call (two spans)")


def _timed(way: Callable[[], Any]) -> float:
    started = time.process_time()
    way()
    return time.process_time() - started


if __name__ == "__main__":
    main()
