"""The hand-written OTLP encoder against the official ``opentelemetry-proto`` decoder."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from switchyard.observe import otlp
from tests.observe.otlp_receiver import value_of


def _attributes(message: bytes) -> dict[str, object]:
    span = ExportTraceServiceRequest.FromString(message).resource_spans[0].scope_spans[0].spans[0]
    return {kv.key: value_of(kv.value) for kv in span.attributes}


def _one_span(attrs: bytes) -> bytes:
    return otlp.trace_request(otlp.resource({}), otlp.scope("s", "1"), [
        otlp.span(b"\x01" * 16, b"\x00" * 7 + b"\x01", b"", otlp.framed(5, b"n"), otlp.SPAN_KIND_CLIENT, 1, 2, attrs)])


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**31, 2**63 - 1])
def test_an_int_attribute_of_any_size_decodes_to_itself(value):
    attrs = otlp.attribute(9, "generic", value) + otlp.int_attribute(otlp.int_prefixes("prefixed"), value)
    assert _attributes(_one_span(attrs)) == {"generic": value, "prefixed": value}


def test_a_negative_int_decodes_to_itself():
    assert _attributes(_one_span(otlp.attribute(9, "k", -(2**40)))) == {"k": -(2**40)}


@pytest.mark.parametrize("size", [0, 1, 80, 127, 128, 300, 20000])
def test_a_string_attribute_of_any_length_decodes_to_itself(size):
    value = ("é" if size % 2 else "x") * size  # not ASCII too: the prefixes count bytes, not characters
    attrs = otlp.str_attribute(otlp.str_prefixes("gen_ai.response.id"), "gen_ai.response.id", value)
    assert _attributes(_one_span(attrs)) == {"gen_ai.response.id": value}


@pytest.mark.parametrize("size", [0, 100, 127, 128, 200, 16383, 16384, 70000])
def test_a_span_of_any_size_is_framed_right(size):
    attrs = otlp.attribute(9, "filler", "f" * size)
    assert _attributes(_one_span(attrs)) == {"filler": "f" * size}


def test_a_span_keeps_its_ids_times_kind_attributes_and_error_status():
    attrs = b"".join((otlp.attribute(9, "flag", True), otlp.attribute(9, "ratio", 0.25),
                      otlp.attribute(9, "reasons", ("stop", "length")), otlp.attribute(9, "model", "gpt-4o"),
                      otlp.double_prefix("latency") + otlp.DOUBLE.pack(1.5)))
    message = otlp.trace_request(
        otlp.resource({"service.name": "switchyard", "absent": None}), otlp.scope("switchyard", "0.1.0"),
        [otlp.span(bytes(range(16)), (0xDEADBEEF).to_bytes(8, "big"), (0x1234).to_bytes(8, "big"), otlp.framed(5, b"chat gpt-4o"), otlp.SPAN_KIND_SERVER,
                   1_700_000_000_000_000_000, 1_700_000_000_500_000_000, attrs, error="UpstreamTimeout")])
    decoded = ExportTraceServiceRequest.FromString(message)
    resource_spans = decoded.resource_spans[0]
    assert {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes} == {"service.name": "switchyard"}
    assert (resource_spans.scope_spans[0].scope.name, resource_spans.scope_spans[0].scope.version) == \
        ("switchyard", "0.1.0")
    span = resource_spans.scope_spans[0].spans[0]
    assert span.trace_id == bytes(range(16))
    assert span.span_id == (0xDEADBEEF).to_bytes(8, "big") and span.parent_span_id == (0x1234).to_bytes(8, "big")
    assert (span.name, span.kind) == ("chat gpt-4o", 2)
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1_700_000_000_000_000_000, 1_700_000_000_500_000_000)
    assert (span.status.code, span.status.message) == (2, "UpstreamTimeout")
    found = {kv.key: value_of(kv.value) for kv in span.attributes}
    assert found == {"flag": True, "ratio": 0.25, "reasons": ["stop", "length"], "model": "gpt-4o", "latency": 1.5}


def test_a_root_span_has_no_parent_and_an_ok_span_no_status():
    message = otlp.trace_request(b"", otlp.scope("s", "1"), [
        otlp.span(b"\x02" * 16, b"\x05" * 8, b"", otlp.framed(5, b"x"), otlp.SPAN_KIND_CLIENT, 1, 2, b"")])
    span = ExportTraceServiceRequest.FromString(message).resource_spans[0].scope_spans[0].spans[0]
    assert span.parent_span_id == b"" and span.status.code == 0 and span.kind == 3


def test_a_cumulative_histogram_decodes_with_its_buckets_sum_min_and_max():
    point = otlp.histogram_point(otlp.attributes(9, {"gen_ai.token.type": "input"}), 10, 20, [1, 0, 2], (1.0, 2.0),
                                 7.5)
    message = otlp.metrics_request(otlp.resource({"service.name": "s"}), otlp.scope("s", "1"), [
        otlp.histogram_metric("gen_ai.client.token.usage", "Tokens.", "{token}", [point])])
    metric = ExportMetricsServiceRequest.FromString(message).resource_metrics[0].scope_metrics[0].metrics[0]
    assert (metric.name, metric.unit) == ("gen_ai.client.token.usage", "{token}")
    assert metric.histogram.aggregation_temporality == 2
    decoded = metric.histogram.data_points[0]
    assert list(decoded.bucket_counts) == [1, 0, 2] and list(decoded.explicit_bounds) == [1.0, 2.0]
    assert (decoded.count, decoded.sum) == (3, 7.5)
    assert (decoded.start_time_unix_nano, decoded.time_unix_nano) == (10, 20)
    assert {kv.key: value_of(kv.value) for kv in decoded.attributes} == {"gen_ai.token.type": "input"}


def test_a_usual_call_packed_whole_decodes_as_the_general_encoding_writes_it():
    """``SpanEncoder.encode``'s one-pack shapes against ``_encode``, over the values a shape
    depends on: counts of every varint length, ids of every length, the same value as int,
    float and bool (one key, not one encoding), a client's parent, unhashable answer fields."""
    import itertools
    import random

    from opentelemetry.proto.trace.v1 import trace_pb2

    from switchyard.core.config import parse_config
    from switchyard.core.messages import Usage
    from switchyard.observe.labels import AliasLabels
    from switchyard.observe.span_encoding import SpanEncoder, SpanSite
    from switchyard.observe.spans import TraceRecord

    class Adapter:
        base_url = "https://api.openai.com/v1"

    config = parse_config({"models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                                "api_key": "sk-test"}]}}})
    deployment = config.models["chat"].deployments[0]
    site = SpanSite("chat#0", "chat", deployment, Adapter(),
                    AliasLabels(config.models).deployment("chat#0", "chat", deployment))

    def decoded(pieces: list[bytes]) -> list[tuple[object, ...]]:
        spans = trace_pb2.ScopeSpans.FromString(otlp.framed(1, b"") + b"".join(pieces)).spans
        return [(s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_time_unix_nano,
                 s.end_time_unix_nano, s.status.code, sorted((kv.key, str(kv.value)) for kv in s.attributes))
                for s in spans]

    packed, general = SpanEncoder(), SpanEncoder()
    pick = random.Random(12).choice
    for n in itertools.islice(itertools.count(), 1500):
        record = TraceRecord(n.to_bytes(16, "big"), pick([b"", b"\x07" * 8]), True, 1_000 + n)
        record.end, record.op, record.stream, record.status, record.error, record.code = 9_000 + n, 0, False, 200, None, None
        record.requested, record.alias, record.deployment = pick(["chat", None, "m" * 300]), "chat", "chat#0"
        record.request_id, record.cost = pick(["req_1", "r" * 150]), pick([0.0001, 0.0, None])
        record.max_tokens, record.temperature, record.top_p = pick([None, 1, 1.0, True, 300]), pick([None, 0, 1, 1.0, True]), \
            pick([None, 1, True, 0.5])
        record.usage, record.input = None, None
        usage = Usage(prompt_tokens=pick([0, 127, 128, 20_000, 3_000_000]), completion_tokens=pick([1, 16383, 16384]),
                      cached_tokens=pick([None, 0, 1024]), reasoning_tokens=pick([None, 7]))
        record.attempts.append((site, (n + 1).to_bytes(8, "big"), 2_000 + n, 0, 8_000 + n, None, None, usage,
                                pick(["gpt-4o-mini", None, "x" * 300, 5, ["a"]]), pick(["chatcmpl-1", "y" * 300, "é" * 5, 3]),
                                pick(["stop", None, "length"]), None))
        ours: list[bytes] = []
        theirs: list[bytes] = []
        assert packed.encode(record, 10**18, ours) == general._encode(record, 10**18, theirs) == 2
        assert decoded(ours) == decoded(theirs)
    assert any(packed._shapes.values())  # most of them packed whole
