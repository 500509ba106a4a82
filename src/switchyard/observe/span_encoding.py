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

import struct
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from switchyard.observe import otlp
from switchyard.observe.labels import GENAI_PROVIDERS, DeploymentLabels
from switchyard.observe.spans import OPERATION_NAMES, TraceRecord

_PORTS = {"https": 443, "http": 80}
_SMALL = tuple(bytes([n]) for n in range(128))
#: A span's frame as a field of ``ScopeSpans`` (tag and length) by its size, for the usual sizes.
_FRAMES = tuple(b"\x12" + otlp.varint(n) for n in range(2048))
_PACK = otlp.DOUBLE.pack
_TIMES = otlp.TIMES.pack
SPAN_NAME_MAX = 256
#: Entries of each table of encoded constants (emptied when full).
MAX_COMBINATIONS = 4096
_COST = otlp.double_prefix("switchyard.cost_usd")
#: A usual call's ``struct`` pack, the constants of its SERVER and CLIENT spans, and the prefixes
#: of its input and output token counts (``SpanEncoder._shape``).
Shape = tuple[Callable[..., bytes], bytes, bytes, bytes, bytes]


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
    ``perf_counter_ns`` instant into Unix nanoseconds (set per batch).

    What repeats is kept encoded, each in a bounded table (emptied when full, so it
    follows what the traffic is now): a SERVER span's name, kind and repeating
    attributes by their combination; a CLIENT span's name, kind, the site's fixed
    attributes, ``gen_ai.response.model`` and ``gen_ai.response.finish_reasons`` by
    ``(site, operation, model, finish reason)``. A span is then one join of those
    bytes with its ids, times, tokens and the few values of its own."""

    def __init__(self) -> None:
        self._combinations: dict[tuple[Any, ...], bytes] = {}
        self._shapes: dict[tuple[Any, ...], Shape | Literal[False]] = {}
        self._clients: dict[tuple[Any, ...], bytes] = {}
        self._input = otlp.int_prefixes("gen_ai.usage.input_tokens")
        self._output = otlp.int_prefixes("gen_ai.usage.output_tokens")
        self._cache_read = otlp.int_prefixes("gen_ai.usage.cache_read.input_tokens")
        self._cache_write = otlp.int_prefixes("gen_ai.usage.cache_creation.input_tokens")
        self._reasoning = otlp.int_prefixes("gen_ai.usage.reasoning.output_tokens")
        self._max_tokens = otlp.int_prefixes("gen_ai.request.max_tokens")
        self._request_id = otlp.str_prefixes("switchyard.request_id")
        self._response_id = otlp.str_prefixes("gen_ai.response.id")
        self._first_chunk = otlp.double_prefix("gen_ai.response.time_to_first_chunk")
        self._temperature = otlp.double_prefix("gen_ai.request.temperature")
        self._top_p = otlp.double_prefix("gen_ai.request.top_p")

    def encode(self, record: TraceRecord, base: int, out: list[bytes]) -> int:
        """Append the spans of ``record`` to ``out``; returns how many spans.

        The usual call — one upstream try that answered, its usage and cost known, no
        content captured — is one ``struct`` pack of its shape (``_shape``): the constant
        bytes of both spans (frames, names, kinds, attributes, tags) come whole from the
        table, only ids, times, token counts, request and response ids and the cost are
        passed. Anything else goes through ``_encode``, which writes the same bytes."""
        attempts = record.attempts
        cost = record.cost
        if len(attempts) != 1 or cost is None or record.input is not None or record.error is not None:
            return self._encode(record, base, out)
        site, span_id, start, opened, end, error, _, usage, model, response_id, finish, output = attempts[0]
        if error is not None or opened or output is not None or usage is None or response_id.__class__ is not str:
            return self._encode(record, base, out)
        rid = record.request_id.encode()
        answered = response_id.encode("utf-8", "replace")
        value = usage.prompt_tokens
        given = _SMALL[value] if 0 <= value < 128 else otlp.varint(value)
        value = usage.completion_tokens
        made = _SMALL[value] if 0 <= value < 128 else otlp.varint(value)
        details = b"" if usage.cached_tokens is None and usage.cache_write_tokens is None and \
            usage.reasoning_tokens is None else self._details(usage)
        parent = record.parent_id
        max_tokens, temperature, top_p = record.max_tokens, record.temperature, record.top_p
        # The classes too: 1, 1.0 and True are one key, and they are not encoded alike.
        key = (site, record.op, record.stream, record.requested, record.alias, record.deployment, record.status,
               model, finish, max_tokens, max_tokens.__class__, temperature, temperature.__class__, top_p,
               top_p.__class__, len(rid), len(answered), len(given), len(made), len(details), len(parent))
        try:
            shape = self._shapes.get(key)
        except TypeError:  # an answer's model or finish reason of an unhashable kind
            return self._encode(record, base, out)
        if shape is None:
            shape = self._shape(key, record, rid, answered)
        if shape is False:
            return self._encode(record, base, out)
        pack, server, client, inputs, outputs = shape
        trace_id = record.trace_id
        server_span = record.span_id
        out.append(pack(server, rid, _COST, cost, b"\x0a\x10", trace_id, b"\x12\x08", server_span,
                        b"\x22\x08" + parent if parent else b"", 0x39, record.start + base, 0x41, record.end + base,
                        client, answered, b"\x0a\x10", trace_id, b"\x12\x08", span_id, b"\x22\x08", server_span,
                        0x39, start + base, 0x41, end + base, inputs, given, outputs, made, details))
        return 2

    def _shape(self, key: tuple[Any, ...], record: TraceRecord, rid: bytes, answered: bytes) -> Shape | Literal[False]:
        """A usual call's two spans as a ``struct`` layout and the constant bytes it takes
        (kept by ``key``); False for a shape ``_encode`` writes (a very long id or span)."""
        shape: Shape | Literal[False] = False
        site, op, given, made, details, parent = key[0], key[1], key[17], key[18], key[19], key[20]
        if len(rid) < len(self._request_id) and len(answered) < len(self._response_id):
            combination = (op, record.stream, record.requested, record.alias, record.deployment, record.status, 1,
                           None, None)
            head = self._combinations.get(combination) or self._combination(combination)
            # SERVER: head and the request id's prefix, the request id, the cost, ids, times.
            server = head + self._request_id[len(rid)]
            server_size = len(server) + len(rid) + len(_COST) + 8 + 28 + (10 if parent else 0) + 18
            # CLIENT: constants and the response id's prefix, the response id, ids, times, counts.
            client = self._client(site, op, key[7], key[8]) + self._shared(record) + self._response_id[len(answered)]
            inputs, outputs = self._input[given], self._output[made]
            client_size = len(client) + len(answered) + 38 + 18 + len(inputs) + given + len(outputs) + made + details
            if server_size < len(_FRAMES) and client_size < len(_FRAMES):
                server, client = _FRAMES[server_size] + server, _FRAMES[client_size] + client
                layout = (f"<{len(server)}s{len(rid)}s{len(_COST)}sd2s16s2s8s{10 if parent else 0}sBQBQ"
                          f"{len(client)}s{len(answered)}s2s16s2s8s2s8sBQBQ"
                          f"{len(inputs)}s{given}s{len(outputs)}s{made}s{details}s")
                shape = (struct.Struct(layout).pack, server, client, inputs, outputs)
        if len(self._shapes) >= MAX_COMBINATIONS:
            self._shapes.clear()
        self._shapes[key] = shape
        return shape

    def _encode(self, record: TraceRecord, base: int, out: list[bytes]) -> int:
        """Any call's spans, each as two pieces: its frame as ``ScopeSpans.spans`` (tag and
        length), then its fields.

        Written out rather than through ``otlp.span``: a span is one tuple of byte strings
        (its fields in any order, as protobuf allows) joined once."""
        trace_id = record.trace_id
        attempts = record.attempts
        op = record.op
        key = (op, record.stream, record.requested, record.alias, record.deployment, record.status, len(attempts),
               record.error, record.code)
        head = self._combinations.get(key)
        if head is None:
            head = self._combination(key)
        rid = record.request_id.encode()
        prefixes = self._request_id
        parent = record.parent_id
        cost = record.cost
        body = b"".join((
            head, b"\x0a\x10", trace_id, b"\x12\x08", record.span_id, b"\x22\x08" + parent if parent else b"",
            _TIMES(0x39, record.start + base, 0x41, record.end + base),
            prefixes[len(rid)] + rid if len(rid) < len(prefixes) else
            otlp.attribute(9, "switchyard.request_id", record.request_id),
            _COST + _PACK(cost) if cost is not None else b"",
            self._usage(record.usage) if not attempts and record.usage is not None else b"",  # no try: it is here
            b"\x7a" + otlp.framed_status(record.error) if record.error is not None and record.status >= 500 else b""))
        size = len(body)
        out.append(_FRAMES[size] if size < 2048 else b"\x12" + otlp.varint(size))
        out.append(body)
        if not attempts:
            return 1
        if record.max_tokens is None and record.temperature is None and record.top_p is None and record.input is None:
            shared = b""
        else:
            shared = self._shared(record)
        ids = b"\x0a\x10" + trace_id
        server = b"\x22\x08" + record.span_id
        clients = self._clients
        for site, span_id, start, opened, end, error, code, usage, model, response_id, finish, output in attempts:
            try:
                constant = clients.get((site, op, model, finish))
            except TypeError:  # an answer's model or finish reason of an unhashable kind
                constant = None
                model = model if isinstance(model, str) else None
                finish = finish if isinstance(finish, str) else None
            if constant is None:
                constant = self._client(site, op, model, finish)
            if usage is not None:
                value = usage.prompt_tokens
                tokens = self._input[1] + _SMALL[value] if 0 <= value < 128 else otlp.int_attribute(self._input, value)
                value = usage.completion_tokens
                tokens += self._output[1] + _SMALL[value] if 0 <= value < 128 else \
                    otlp.int_attribute(self._output, value)
                if usage.cached_tokens is not None or usage.cache_write_tokens is not None or \
                        usage.reasoning_tokens is not None:
                    tokens += self._details(usage)
            else:
                tokens = b""
            if response_id.__class__ is str:
                raw = response_id.encode("utf-8", "replace")
                answered = self._response_id[len(raw)] + raw if len(raw) < len(self._response_id) else \
                    otlp.attribute(9, "gen_ai.response.id", response_id[:256])
            else:
                answered = b""
            body = b"".join((
                constant, shared, ids, b"\x12\x08", span_id, server,
                _TIMES(0x39, start + base, 0x41, (end or record.end) + base), tokens, answered,
                self._first_chunk + _PACK((opened - start) / 1e9) if opened else b"",
                b"" if output is None else otlp.attribute(9, "gen_ai.output.messages",
                                                          _output_messages(output, finish)),
                b"" if error is None else self._failure(error, code)))
            size = len(body)
            out.append(_FRAMES[size] if size < 2048 else b"\x12" + otlp.varint(size))
            out.append(body)
        return 1 + len(attempts)

    def _combination(self, key: tuple[Any, ...]) -> bytes:
        """A SERVER span's framed name, kind and the attributes that repeat, encoded (and kept)."""
        op, stream, requested, alias, deployment, status, attempts, error, code = key
        operation = OPERATION_NAMES[op]
        requested = requested[:256] if isinstance(requested, str) else None
        name = otlp.framed(5, f"{operation} {requested or ''}".rstrip()[:SPAN_NAME_MAX].encode())
        found = name + b"\x30\x02" + otlp.attributes(9, (
            ("gen_ai.operation.name", operation), ("gen_ai.request.model", requested), ("switchyard.alias", alias),
            ("switchyard.deployment", deployment), ("switchyard.stream", stream),
            ("http.response.status_code", status), ("switchyard.attempts", attempts or None),
            ("error.type", error), ("switchyard.error.code", code or None)))
        if requested is None or len(key[2]) <= 256:  # a client's very long model name is never kept
            if len(self._combinations) >= MAX_COMBINATIONS:
                self._combinations.clear()
            self._combinations[key] = found
        return found

    def _client(self, site: SpanSite, op: int, model: Any, finish: Any) -> bytes:
        """A CLIENT span's framed name, kind, its site's fixed attributes and what the answer
        said of its model and finish, encoded (and kept)."""
        found = b"".join((
            site.names[op], b"\x30\x03", site.fixed[op],
            otlp.attribute(9, "gen_ai.response.model", model[:256]) if isinstance(model, str) else b"",
            otlp.attribute(9, "gen_ai.response.finish_reasons", (finish[:64],)) if isinstance(finish, str) else b""))
        if (not isinstance(model, str) or len(model) <= 256) and (not isinstance(finish, str) or len(finish) <= 64):
            if len(self._clients) >= MAX_COMBINATIONS:
                self._clients.clear()
            self._clients[(site, op, model, finish)] = found
        return found

    def _usage(self, usage: Any) -> bytes:
        """Every token count of ``usage`` reported."""
        return otlp.int_attribute(self._input, usage.prompt_tokens) + \
            otlp.int_attribute(self._output, usage.completion_tokens) + self._details(usage)

    def _details(self, usage: Any) -> bytes:
        """The cache and reasoning token counts, each when reported."""
        parts = []
        if usage.cached_tokens is not None:
            parts.append(otlp.int_attribute(self._cache_read, usage.cached_tokens))
        if usage.cache_write_tokens is not None:
            parts.append(otlp.int_attribute(self._cache_write, usage.cache_write_tokens))
        if usage.reasoning_tokens is not None:
            parts.append(otlp.int_attribute(self._reasoning, usage.reasoning_tokens))
        return b"".join(parts)

    @staticmethod
    def _failure(error: str, code: Any) -> bytes:
        """A failed try's ``error.type``, ``switchyard.error.code`` and ERROR status."""
        return b"".join((otlp.attribute(9, "error.type", error),
                         otlp.attribute(9, "switchyard.error.code", code) if code else b"",
                         b"\x7a" + otlp.framed_status(error)))

    def _shared(self, record: TraceRecord) -> bytes:
        """What every try of the call shares: the request's parameters and, captured, its messages."""
        max_tokens, temperature, top_p = record.max_tokens, record.temperature, record.top_p
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


def _output_messages(text: str, finish: Any) -> str:
    message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
    if isinstance(finish, str):
        message["finish_reason"] = finish
    return orjson.dumps([message]).decode()
