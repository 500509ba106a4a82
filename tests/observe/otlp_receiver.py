"""A real OTLP/HTTP receiver on loopback, for the tracing tests: what a collector would get.

It accepts ``POST /v1/traces`` and ``POST /v1/metrics`` (``application/x-protobuf``),
decodes each body with the official ``opentelemetry-proto`` classes — so a message
the gateway encodes wrongly fails here — and keeps the spans and metric data
points. Tests wait on a condition (``wait_spans``), never sleep. ``status`` makes it
answer with another status (a collector refusing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def value_of(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start: int
    end: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    resource: dict[str, Any]


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    #: metric name -> [(attributes, count, sum, bucket counts)], from the newest export
    metrics: dict[str, list[tuple[dict[str, Any], int, float, list[int]]]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)


class OtlpReceiver:
    def __init__(self) -> None:
        self.received = Received()
        self.status = 200
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver._take(self.path, dict(self.headers.items()), body)
                self.send_response(receiver.status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._changed:
            self.received.requests.append({"path": path, **{k.lower(): v for k, v in headers.items()}})
            if self.status != 200:
                pass
            elif path == "/v1/traces":
                self.received.spans.extend(_spans(ExportTraceServiceRequest.FromString(body)))
            elif path == "/v1/metrics":
                self.received.metrics = _metrics(ExportMetricsServiceRequest.FromString(body))
            self._changed.notify_all()

    def wait(self, check: Callable[[Received], bool], timeout: float = 10.0) -> Received:
        with self._changed:
            assert self._changed.wait_for(lambda: check(self.received), timeout), self.received
            return self.received

    def wait_spans(self, count: int, timeout: float = 10.0) -> list[Span]:
        return self.wait(lambda r: len(r.spans) >= count, timeout).spans

    def __enter__(self) -> OtlpReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _spans(message: ExportTraceServiceRequest) -> Iterator[Span]:
    for resource_spans in message.resource_spans:
        resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                yield Span(s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name, s.kind,
                           s.start_time_unix_nano, s.end_time_unix_nano,
                           {kv.key: value_of(kv.value) for kv in s.attributes}, s.status.code, s.status.message,
                           resource)


def _metrics(message: ExportMetricsServiceRequest) -> dict[str, list[tuple[dict[str, Any], int, float, list[int]]]]:
    out: dict[str, list[tuple[dict[str, Any], int, float, list[int]]]] = {}
    for resource_metrics in message.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                assert metric.histogram.aggregation_temporality == 2  # cumulative
                out[metric.name] = [({kv.key: value_of(kv.value) for kv in p.attributes}, p.count, p.sum,
                                     list(p.bucket_counts)) for p in metric.histogram.data_points]
    return out
