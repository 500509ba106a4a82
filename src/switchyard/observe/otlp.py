"""OTLP's protobuf wire format, written by hand for the parts the gateway sends.

Why not the OpenTelemetry SDK's encoder: measured here (``python -m bench.otlp``),
turning a recorded upstream call into OTLP bytes costs about 50 µs per span
through ``ReadableSpan`` and the exporter's ``encode_spans``, 90 µs replayed
through an SDK tracer, 9 µs with ``opentelemetry-proto``'s message classes and
cached attributes — against about 5 µs here, where what is the same for every
span of a deployment (its name and a dozen attributes) is encoded once, when
the deployment is built, and a span is a few joins of bytes. Spans are encoded
in the gateway's own process, so their cost is the gateway's throughput. The
tests decode every message with the official ``opentelemetry-proto`` classes.

The messages (``opentelemetry/proto``, v1)::

    ExportTraceServiceRequest  resource_spans=1
      ResourceSpans            resource=1 (Resource: attributes=1), scope_spans=2
        ScopeSpans             scope=1 (InstrumentationScope: name=1, version=2), spans=2
          Span                 trace_id=1 span_id=2 parent_span_id=4 name=5 kind=6
                               start_time_unix_nano=7 end_time_unix_nano=8 (fixed64)
                               attributes=9 (KeyValue: key=1, value=2) status=15 (message=2, code=3)
    ExportMetricsServiceRequest resource_metrics=1
      ResourceMetrics          resource=1, scope_metrics=2
        ScopeMetrics           scope=1, metrics=2
          Metric               name=1 description=2 unit=3 histogram=9
            Histogram          data_points=1 aggregation_temporality=2 (2: cumulative)
              HistogramDataPoint attributes=9 start_time_unix_nano=2 time_unix_nano=3 count=4 (fixed64)
                               sum=5 bucket_counts=6 (packed fixed64) explicit_bounds=7 (packed double)
    AnyValue                   string_value=1 bool_value=2 int_value=3 double_value=4 array_value=5
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_SMALL = [bytes([n]) for n in range(128)]


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint (a negative int64 as its two's complement)."""
    if 0 <= value < 128:
        return _SMALL[value]
    if 0 < value < 16384:  # two bytes: most token counts and lengths, without the loop
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def framed(field: int, payload: bytes) -> bytes:
    """A length-delimited field (a string, bytes or a nested message)."""
    return _SMALL[(field << 3) | 2] + varint(len(payload)) + payload if field < 16 else \
        varint((field << 3) | 2) + varint(len(payload)) + payload


def fixed64(field: int, value: int) -> bytes:
    return _SMALL[(field << 3) | 1] + _FIXED64.pack(value)


def double(field: int, value: float) -> bytes:
    return _SMALL[(field << 3) | 1] + _DOUBLE.pack(value)


# -- values and attributes -----------------------------------------------------------------------

def any_value(value: object) -> bytes:
    """An ``AnyValue`` message: str, bool, int, float, or a sequence of them."""
    if isinstance(value, str):
        return framed(1, value.encode("utf-8", "replace"))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return double(4, value)
    if isinstance(value, (list, tuple)):
        return framed(5, b"".join(framed(1, any_value(item)) for item in value))
    return framed(1, str(value).encode("utf-8", "replace"))


def key_value(key: str, value: object) -> bytes:
    """A ``KeyValue`` message (unframed)."""
    return framed(1, key.encode()) + framed(2, any_value(value))


def attribute(field: int, key: str, value: object) -> bytes:
    """One attribute as field ``field`` of its message (a span's is 9, a resource's 1)."""
    return framed(field, key_value(key, value))


def attributes(field: int, values: Mapping[str, object] | Iterable[tuple[str, object]]) -> bytes:
    """Attributes whose value is not None, each as field ``field``."""
    items = values.items() if isinstance(values, Mapping) else values
    return b"".join(attribute(field, k, v) for k, v in items if v is not None)


def int_prefixes(key: str) -> tuple[bytes, ...]:
    """An int span attribute's bytes before its value, by the value's varint length (1 to
    10): ``prefixes[len(v)] + v`` is the whole attribute, framed as a span's field 9."""
    name = framed(1, key.encode())
    return (b"",) + tuple(b"\x4a" + varint(len(name) + 3 + n) + name + b"\x12" + _SMALL[1 + n] + b"\x18"
                          for n in range(1, 11))


def str_prefixes(key: str) -> tuple[bytes, ...]:
    """The same for a string attribute, by the value's UTF-8 length, for the lengths whose
    attribute needs single-byte length prefixes; a longer value goes through ``attribute``."""
    name = framed(1, key.encode())
    room = 127 - len(name) - 4
    return tuple(b"\x4a" + _SMALL[len(name) + 4 + n] + name + b"\x12" + _SMALL[2 + n] + b"\x0a" + _SMALL[n]
                 for n in range(max(room, 0) + 1))


def int_attribute(prefixes: tuple[bytes, ...], value: int) -> bytes:
    """An int attribute from its ``int_prefixes``."""
    encoded = _SMALL[value] if 0 <= value < 128 else varint(value)
    return prefixes[len(encoded)] + encoded


def str_attribute(prefixes: tuple[bytes, ...], key: str, value: str) -> bytes:
    """A string attribute from its ``str_prefixes`` (``key`` for a value too long for them)."""
    raw = value.encode("utf-8", "replace")
    if len(raw) < len(prefixes):
        return prefixes[len(raw)] + raw
    return attribute(9, key, value)


def double_prefix(key: str) -> bytes:
    """A double attribute's bytes before its 8 value bytes (``_DOUBLE``, little-endian)."""
    name = framed(1, key.encode())
    return b"\x4a" + varint(len(name) + 11) + name + b"\x12\x09\x21"


def length(size: int) -> bytes:
    """A length prefix (a varint), the common sizes without a call."""
    if size < 128:
        return _SMALL[size]
    if size < 16384:
        return bytes(((size & 0x7F) | 0x80, size >> 7))
    return varint(size)


# -- spans ---------------------------------------------------------------------------------------

TIMES = struct.Struct("<BQBQ")
DOUBLE = _DOUBLE


def span_head(trace_id: bytes, span_id: bytes, parent_id: bytes, name: bytes, kind: int, start: int,
              end: int) -> bytes:
    """The fields of a ``Span`` besides its attributes: ids (16 and 8 bytes; no parent: empty),
    name (already framed, ``framed(5, ...)``), kind and times."""
    return b"".join((b"\x0a\x10", trace_id, b"\x12\x08", span_id, b"\x22\x08" if parent_id else b"", parent_id,
                     name, b"\x30", _SMALL[kind], TIMES.pack(0x39, start, 0x41, end)))


def spans_field(body: bytes) -> bytes:
    """A span's fields framed as a ``Span`` of ``ScopeSpans`` (``spans=2``)."""
    return b"\x12" + length(len(body)) + body


def span(trace_id: bytes, span_id: bytes, parent_id: bytes, name: bytes, kind: int, start: int, end: int,
         attrs: bytes, error: str | None = None) -> bytes:
    """A ``Span``, framed as a field of ``ScopeSpans`` (``spans=2``): ids as bytes (16, 8, and 8 or
    none), ``name`` already framed (``framed(5, ...)``), ``attrs`` its attributes already framed
    (field 9); ``error`` sets the status to ERROR with that message."""
    body = span_head(trace_id, span_id, parent_id, name, kind, start, end) + attrs
    if error is not None:
        body += b"\x7a" + framed_status(error)
    return spans_field(body)


def framed_status(message: str) -> bytes:
    status = framed(2, message.encode("utf-8", "replace")[:1024]) + b"\x18" + _SMALL[STATUS_ERROR]
    return varint(len(status)) + status


def resource(attrs: Mapping[str, object]) -> bytes:
    """A ``Resource`` message (unframed)."""
    return attributes(1, attrs)


def scope(name: str, version: str) -> bytes:
    """An ``InstrumentationScope`` message (unframed)."""
    return framed(1, name.encode()) + framed(2, version.encode())


def trace_request(resource_message: bytes, scope_message: bytes, spans: Sequence[bytes]) -> bytes:
    """An ``ExportTraceServiceRequest`` of ``spans`` — framed spans (from ``span``), or the pieces
    ``SpanEncoder.encode`` makes of them — joined once."""
    scope = framed(1, scope_message)
    scope_spans = len(scope) + sum(map(len, spans))
    resource = framed(1, resource_message)
    head = b"\x12" + varint(scope_spans)
    resource_spans = len(resource) + len(head) + scope_spans
    return b"".join((b"\x0a", varint(resource_spans), resource, head, scope, *spans))


# -- metrics -------------------------------------------------------------------------------------

def histogram_point(attrs: bytes, start: int, now: int, counts: Sequence[int], bounds: Sequence[float],
                    total: float) -> bytes:
    """A ``HistogramDataPoint`` (unframed); ``attrs`` already framed as field 9."""
    return b"".join((attrs, fixed64(2, start), fixed64(3, now), fixed64(4, sum(counts)), double(5, total),
                     framed(6, b"".join(_FIXED64.pack(c) for c in counts)),
                     framed(7, b"".join(_DOUBLE.pack(b) for b in bounds))))


def histogram_metric(name: str, description: str, unit: str, points: Iterable[bytes]) -> bytes:
    """A ``Metric`` holding a cumulative ``Histogram`` of ``points`` (unframed)."""
    data = b"".join(framed(1, point) for point in points) + b"\x10\x02"
    return framed(1, name.encode()) + framed(2, description.encode()) + framed(3, unit.encode()) + framed(9, data)


def metrics_request(resource_message: bytes, scope_message: bytes, metrics: Sequence[bytes]) -> bytes:
    """An ``ExportMetricsServiceRequest`` of ``metrics`` (each from ``histogram_metric``)."""
    scope_metrics = framed(1, scope_message) + b"".join(framed(2, m) for m in metrics)
    return framed(1, framed(1, resource_message) + framed(2, scope_metrics))
