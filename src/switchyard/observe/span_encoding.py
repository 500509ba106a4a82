"""Trace records (``observe/spans.py``) into OTLP spans, following the GenAI conventions.

Per call, one SERVER span — named ``{operation} {requested model}``, child of
the client's ``traceparent`` when it sent one — and one CLIENT span
``{operation} {upstream model}`` per upstream try beneath it (a retry and a
fallback each their own). The attributes:

========  ==========================================================================================
SERVER    ``gen_ai.operation.name``, ``gen_ai.request.model`` (as the client named it),
          ``switchyard.alias``, ``switchyard.deployment`` (the one that served),
          ``switchyard.request_id``, ``switchyard.stream``, ``switchyard.attempts``,
          ``switchyard.cost_usd``, ``http.response.status_code``; on failure ``error.type``,
          ``switchyard.error.code`` (and status ERROR for a 5xx); the usage attributes only
          when no upstream was tried (they belong to the tries)
CLIENT    ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``
          (the upstream's), ``server.address``, ``server.port``, ``switchyard.deployment``,
          ``switchyard.alias``, ``gen_ai.request.max_tokens`` / ``temperature`` / ``top_p``,
          ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
          ``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.cache_creation.input_tokens``,
          ``gen_ai.usage.reasoning.output_tokens`` (each when reported), ``gen_ai.response.model``,
          ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
          ``gen_ai.response.time_to_first_chunk`` (streams); on failure ``error.type``,
          ``switchyard.error.code`` and status ERROR; ``gen_ai.input.messages`` and
          ``gen_ai.output.messages`` only with ``capture_content``
========  ==========================================================================================

Written for the encoder's cost, which is the gateway's (``observe/otlp.py``
says why): what is the same for every span of a deployment is encoded once, in
its ``SpanSite``; a SERVER span's attributes that repeat from call to call
(operation, model, alias, deployment, status) are encoded once per
combination; every attribute key is encoded once, and a value is a few
byte joins without a function call of its own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from switchyard.observe import otlp
from switchyard.observe.labels import GENAI_PROVIDERS, DeploymentLabels
from switchyard.observe.spans import OPERATION_NAMES, TraceRecord

_PORTS = {"https": 443, "http": 80}
_SMALL = tuple(bytes([n]) for n in range(128))
_PACK = otlp.DOUBLE.pack
_TIMES = otlp.TIMES.pack
SPAN_NAME_MAX = 256
#: Combinations of a SERVER span's repeating attributes kept encoded (then encoded each time).
MAX_COMBINATIONS = 4096


class SpanSite:
    """A deployment's span constants: per operation (``OPERATION_NAMES`` order), its
    CLIENT span's framed name and fixed attributes, and its GenAI metric series."""

    __slots__ = ("deployment", "names", "fixed", "metric_attributes", "series")

    def __init__(self, deployment_id: str, alias: str, config: Any, adapter: Any, labels: DeploymentLabels) -> None:
        self.deployment = deployment_id
        provider = config.provider
        genai_provider = GENAI_PROVIDERS.get(provider, provider)
        base_url = getattr(adapter, "base_url", "") or ""
        parts = urlsplit(base_url) if base_url else None
        address = parts.hostname if parts is not None else None
        port = (parts.port or _PORTS.get(parts.scheme)) if parts is not None else None
        names, fixed, metric_attributes = [], [], []
        for operation in OPERATION_NAMES:
            names.append(otlp.framed(5, f"{operation} {config.model}"[:SPAN_NAME_MAX].encode()))
            fixed.append(otlp.attributes(9, (
                ("gen_ai.operation.name", operation), ("gen_ai.provider.name", genai_provider),
                ("gen_ai.request.model", config.model), ("server.address", address), ("server.port", port),
                ("switchyard.deployment", deployment_id), ("switchyard.alias", alias))))
            # Bounded for metrics: the labels' model (a wildcard's only when its provider lists it).
            metric_attributes.append(tuple((k, v) for k, v in (
                ("gen_ai.operation.name", operation), ("gen_ai.provider.name", genai_provider),
                ("gen_ai.request.model", labels.model), ("server.address", address), ("server.port", port))
                if v is not None))
        self.names: tuple[bytes, ...] = tuple(names)
        self.fixed: tuple[bytes, ...] = tuple(fixed)
        self.metric_attributes: tuple[tuple[tuple[str, object], ...], ...] = tuple(metric_attributes)
        #: Per operation, the metric series of this site's tries (``GenAiMetrics.series``), when metrics are on.
        self.series: tuple[Any, ...] = ()


class SpanEncoder:
    """Records into framed OTLP spans (see the module docstring). ``base`` turns a
    ``perf_counter_ns`` instant into Unix nanoseconds (set per batch)."""

    def __init__(self) -> None:
        self._combinations: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
        self._input = otlp.int_prefixes("gen_ai.usage.input_tokens")
        self._output = otlp.int_prefixes("gen_ai.usage.output_tokens")
        self._cache_read = otlp.int_prefixes("gen_ai.usage.cache_read.input_tokens")
        self._cache_write = otlp.int_prefixes("gen_ai.usage.cache_creation.input_tokens")
        self._reasoning = otlp.int_prefixes("gen_ai.usage.reasoning.output_tokens")
        self._max_tokens = otlp.int_prefixes("gen_ai.request.max_tokens")
        self._request_id = otlp.str_prefixes("switchyard.request_id")
        self._response_id = otlp.str_prefixes("gen_ai.response.id")
        self._cost = otlp.double_prefix("switchyard.cost_usd")
        self._first_chunk = otlp.double_prefix("gen_ai.response.time_to_first_chunk")
        self._temperature = otlp.double_prefix("gen_ai.request.temperature")
        self._top_p = otlp.double_prefix("gen_ai.request.top_p")
        self._finish: dict[str, bytes] = {}
        self._models: dict[str, bytes] = {}

    def encode(self, record: TraceRecord, base: int, out: list[bytes]) -> int:
        """Append the spans of ``record`` to ``out``, each as two pieces: its frame as
        ``ScopeSpans.spans`` (tag and length), then its fields; returns how many spans.

        Written out rather than through ``otlp.span``: a span is one list of byte strings
        (its fields in any order, as protobuf allows) joined once."""
        trace_id = record.trace_id
        attempts = record.attempts
        op = record.op
        key = (op, record.stream, record.requested, record.alias, record.deployment, record.status, len(attempts),
               record.error, record.code)
        found = self._combinations.get(key)
        if found is None:
            found = self._combination(key)
        name, repeating = found
        rid = record.request_id.encode()
        prefixes = self._request_id
        parent = record.parent_id
        parts = [repeating, prefixes[len(rid)] + rid if len(rid) < len(prefixes) else
                 otlp.attribute(9, "switchyard.request_id", record.request_id),
                 b"\x0a\x10", trace_id, b"\x12\x08", record.span_id, b"\x22\x08" if parent else b"", parent, name,
                 b"\x30\x02", _TIMES(0x39, record.start + base, 0x41, record.end + base)]
        if record.cost is not None:
            parts.append(self._cost + _PACK(record.cost))
        if not attempts and record.usage is not None:  # answered without an upstream try: the usage is here alone
            self._usage(record.usage, parts)
        if record.error is not None and record.status >= 500:
            parts.append(b"\x7a" + otlp.framed_status(record.error))
        body = b"".join(parts)
        size = len(body)
        out.append(b"\x12" + (_SMALL[size] if size < 128 else bytes(((size & 0x7F) | 0x80, size >> 7))
                              if size < 16384 else otlp.varint(size)))
        out.append(body)
        if not attempts:
            return 1
        shared = self._shared(record)
        server = b"\x22\x08" + record.span_id
        for site, span_id, start, opened, end, error, code, usage, model, response_id, finish, output in attempts:
            parts = [site.fixed[op], shared, b"\x0a\x10", trace_id, b"\x12\x08", span_id, server, site.names[op],
                     b"\x30\x03", _TIMES(0x39, start + base, 0x41, (end or record.end) + base)]
            if usage is not None:
                self._usage(usage, parts)
            if isinstance(model, str):
                known = self._models.get(model)
                parts.append(known if known is not None else self._response_model_attribute(model))
            if isinstance(response_id, str):
                raw = response_id.encode("utf-8", "replace")
                parts.append(self._response_id[len(raw)] + raw if len(raw) < len(self._response_id) else
                             otlp.attribute(9, "gen_ai.response.id", response_id[:256]))
            if isinstance(finish, str):
                reason = self._finish.get(finish)
                parts.append(reason if reason is not None else self._finish_reason(finish))
            if opened:
                parts.append(self._first_chunk + _PACK((opened - start) / 1e9))
            if output is not None:
                parts.append(otlp.attribute(9, "gen_ai.output.messages", _output_messages(output, finish)))
            if error is not None:
                parts.append(otlp.attribute(9, "error.type", error))
                if code:
                    parts.append(otlp.attribute(9, "switchyard.error.code", code))
                parts.append(b"\x7a" + otlp.framed_status(error))
            body = b"".join(parts)
            size = len(body)
            out.append(b"\x12" + (_SMALL[size] if size < 128 else bytes(((size & 0x7F) | 0x80, size >> 7))
                                  if size < 16384 else otlp.varint(size)))
            out.append(body)
        return 1 + len(attempts)

    def _combination(self, key: tuple[Any, ...]) -> tuple[bytes, bytes]:
        """A SERVER span's framed name and the attributes that repeat, encoded (and kept)."""
        op, stream, requested, alias, deployment, status, attempts, error, code = key
        operation = OPERATION_NAMES[op]
        requested = requested[:256] if isinstance(requested, str) else None
        name = otlp.framed(5, f"{operation} {requested or ''}".rstrip()[:SPAN_NAME_MAX].encode())
        attrs = otlp.attributes(9, (
            ("gen_ai.operation.name", operation), ("gen_ai.request.model", requested), ("switchyard.alias", alias),
            ("switchyard.deployment", deployment), ("switchyard.stream", stream),
            ("http.response.status_code", status), ("switchyard.attempts", attempts or None),
            ("error.type", error), ("switchyard.error.code", code or None)))
        if len(self._combinations) < MAX_COMBINATIONS and (requested is None or len(key[2]) <= 256):
            self._combinations[key] = (name, attrs)  # a client's very long model name is never kept
        return name, attrs

    def _usage(self, usage: Any, parts: list[bytes]) -> None:
        value = usage.prompt_tokens
        encoded = _SMALL[value] if 0 <= value < 128 else otlp.varint(value)
        parts.append(self._input[len(encoded)] + encoded)
        value = usage.completion_tokens
        encoded = _SMALL[value] if 0 <= value < 128 else otlp.varint(value)
        parts.append(self._output[len(encoded)] + encoded)
        value = usage.cached_tokens
        if value is not None:
            encoded = _SMALL[value] if 0 <= value < 128 else otlp.varint(value)
            parts.append(self._cache_read[len(encoded)] + encoded)
        value = usage.cache_write_tokens
        if value is not None:
            encoded = _SMALL[value] if 0 <= value < 128 else otlp.varint(value)
            parts.append(self._cache_write[len(encoded)] + encoded)
        value = usage.reasoning_tokens
        if value is not None:
            encoded = _SMALL[value] if 0 <= value < 128 else otlp.varint(value)
            parts.append(self._reasoning[len(encoded)] + encoded)

    def _shared(self, record: TraceRecord) -> bytes:
        """What every try of the call shares: the request's parameters and, captured, its messages."""
        max_tokens, temperature, top_p = record.max_tokens, record.temperature, record.top_p
        if max_tokens is None and temperature is None and top_p is None and record.input is None:
            return b""
        parts = []
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 0:
            parts.append(otlp.int_attribute(self._max_tokens, max_tokens))
        if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
            parts.append(self._temperature + _PACK(float(temperature)))
        if isinstance(top_p, (int, float)) and not isinstance(top_p, bool):
            parts.append(self._top_p + _PACK(float(top_p)))
        if record.input is not None:
            parts.append(otlp.attribute(9, "gen_ai.input.messages", record.input))
        return b"".join(parts)

    def _response_model_attribute(self, model: str) -> bytes:
        """``gen_ai.response.model`` (kept per model name, a thousand at most)."""
        found = otlp.attribute(9, "gen_ai.response.model", model[:256])
        if len(self._models) < 1024:
            self._models[model] = found
        return found

    def _finish_reason(self, finish: str) -> bytes:
        found = otlp.attribute(9, "gen_ai.response.finish_reasons", (finish[:64],))
        if len(self._finish) < 64:
            self._finish[finish] = found
        return found


def _output_messages(text: str, finish: Any) -> str:
    message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
    if isinstance(finish, str):
        message["finish_reason"] = finish
    return orjson.dumps([message]).decode()
