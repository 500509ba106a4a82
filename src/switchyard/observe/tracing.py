"""OpenTelemetry traces and GenAI metrics, exported over OTLP/HTTP (``tracing:``).

``Tracing`` is built by ``Services.start`` only when ``tracing:`` is
configured; nothing of it exists, and nothing is imported, otherwise. It is fed
by the two stages of ``observe/spans.py`` (the request stage right after auth,
a policy in each deployment's chain), which record plain values; the calls
that settle are offered to a bounded buffer, and full, it drops the newest
(counted in ``dropped``) rather than make a request wait.

A background task wakes whenever ``SLICE`` calls wait (and every
``export_interval``), encodes them (``observe/span_encoding.py``: a few joins of
bytes per span; a slice at a time, so the event loop is never held for long, and
soon after each call, while its record is still in the cache), aggregates the
GenAI metrics (``observe/genai_metrics.py``), and posts the spans of up to
``batch`` calls per request to ``<endpoint>/v1/traces``
(``application/x-protobuf``) through the gateway's own HTTP client — when a
batch is full, else every ``export_interval``; metrics go to
``<endpoint>/v1/metrics`` every ``metrics_interval``. A collector answering 429, 502, 503 or 504, or not
answering, is tried three times in all; then the batch is dropped and counted
(``failed_spans``), and the log says so at most once a minute. Shutdown
exports what is buffered, trying once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from time import perf_counter_ns, time_ns
from typing import Any
from urllib.parse import urlsplit

import orjson

from switchyard.core.call import Call
from switchyard.core.config import Config
from switchyard.observe import otlp
from switchyard.observe.genai_metrics import GenAiMetrics
from switchyard.observe.labels import AliasLabels
from switchyard.observe.span_encoding import SpanEncoder, SpanSite
from switchyard.observe.spans import CHAT, Traced, TracedAttempt, TraceRecord, error_type, operation_index

log = logging.getLogger("switchyard.tracing")

TRIES = 3
RETRIED = frozenset((429, 502, 503, 504))
#: Records encoded between two yields to the event loop.
SLICE = 64
#: Seconds between two log lines about the same trouble (drops, failed exports).
QUIET = 60.0


class ContentCapture:
    """With ``capture_content``: prompts and answers as the GenAI conventions shape them,
    cut to ``limit`` characters."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, answer: Any) -> str | None:
        """A unary answer's text."""
        try:
            text = answer.text
        except Exception:  # an answer without one (embeddings)
            return None
        return text[:self.limit] if isinstance(text, str) and text else None

    def messages(self, request: Any) -> str | None:
        """A request's messages (or prompt, or input) as ``gen_ai.input.messages``."""
        body = getattr(request, "body", None)
        if not isinstance(body, dict):
            return None
        shaped: list[dict[str, Any]] = []
        for message in body.get("messages") or ():
            if isinstance(message, dict):
                shaped.append({"role": message.get("role"), "parts": [{"type": "text",
                                                                       "content": _text(message.get("content"))}]})
        if not shaped:
            prompt = body.get("prompt", body.get("input"))
            if prompt is None:
                return None
            shaped.append({"role": "user", "parts": [{"type": "text", "content": _text(prompt)}]})
        return orjson.dumps(shaped).decode()[:self.limit]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


class Tracing:
    """The gateway's tracing: its stages, the buffer and the exporter (see the module docstring)."""

    def __init__(self, config: Config, http: Any) -> None:
        settings = config.tracing
        if settings is None:
            raise ValueError("tracing is not configured")
        self.settings = settings
        self.http = http
        self.labels = AliasLabels(config.models)
        self.capture = ContentCapture(settings.content_max_chars) if settings.capture_content else None
        self.encoder = SpanEncoder()
        self.metrics = GenAiMetrics(time_ns()) if settings.metrics else None
        from switchyard import __version__

        self._resource = otlp.resource({"service.name": settings.service_name, "service.version": __version__,
                                        "telemetry.sdk.name": "switchyard", "telemetry.sdk.language": "python",
                                        "telemetry.sdk.version": __version__, **settings.resource})
        self._scope = otlp.scope("switchyard", __version__)
        self._headers = {"content-type": "application/x-protobuf",
                         **{k: v.get_secret_value() for k, v in settings.headers.items()}}
        self._buffer: list[TraceRecord] = []
        self._capacity = settings.buffer
        #: The batch on its way: encoded spans (``SpanEncoder.encode``'s pieces), how many, of how many calls.
        self._pieces: list[bytes] = []
        self._spans = 0
        self._calls = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._metrics_due = time.monotonic() + settings.metrics_interval
        self._quiet: dict[str, float] = {}
        #: Spans the collector accepted; calls dropped by a full buffer; spans of batches given up on.
        self.exported = 0
        self.dropped = 0
        self.failed = 0

    # -- what the pipeline and the deployment factory ask for -------------------------------------
    def stage(self) -> Traced:
        """The request stage (right after auth)."""
        return Traced(self)

    def attempt(self, deployment_id: str, alias: str, config: Any, adapter: Any = None) -> TracedAttempt:
        """The policy of a deployment being built: one attempt record per upstream try."""
        known = getattr(adapter, "known_models", ())
        labels = self.labels.deployment(deployment_id, alias, config, known)
        site = SpanSite(deployment_id, alias, config, adapter, labels)
        if self.metrics is not None:
            site.series = tuple(self.metrics.series(attrs) for attrs in site.metric_attributes)
        return TracedAttempt(site, self.capture)

    def settled(self, call: Call) -> None:
        """A call is complete (its settler, a plain function: no coroutine per call): what it
        learned goes on its record, which is offered to the buffer — or dropped and counted
        when the buffer is full."""
        record: TraceRecord = call.trace
        record.end = end = perf_counter_ns()
        buffer = self._buffer
        if len(buffer) >= self._capacity:
            self.dropped += 1
            self._warn("tracing_dropped", "the tracing buffer is full: calls are dropped (tracing.buffer)",
                       dropped=self.dropped)
            return
        if not record.sampled and self.metrics is None:
            return
        kind = call.kind
        record.op = 0 if kind is CHAT else operation_index(kind)
        record.stream = call.stream
        record.request_id = call.request_id
        request = call.request
        if request is not None:
            record.requested = request.model
            record.max_tokens = getattr(request, "max_tokens", None)  # a chat's, either field; completions' too
            body = request.body
            record.temperature = body.get("temperature")
            record.top_p = body.get("top_p")
        else:
            record.requested = record.max_tokens = record.temperature = record.top_p = None
        record.input = self.capture.messages(request) if self.capture is not None and request is not None else None
        group = call.group
        record.alias = group.alias if group is not None else None
        record.deployment = call.route.get("deployment")
        usage = record.usage = call.usage
        record.cost = call.cost
        error = call.error
        if error is None:
            record.error = record.code = None
            record.status = 200
        else:
            record.error = error_type(error)
            record.code = getattr(error, "code", None)
            record.status = getattr(error, "status", 500)
        attempts = record.attempts
        if attempts and attempts[-1][4] == 0:  # a stream's last try ends with it
            site, span_id, start, opened, _, _, _, _, _, _, _, output = attempts[-1]
            attempts[-1] = (site, span_id, start, opened, end, record.error, record.code, usage, None, None, None,
                            output)
        buffer.append(record)
        if len(buffer) == SLICE:
            self._wake.set()

    # -- the exporter -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tracing-export")

    async def _run(self) -> None:
        interval = self.settings.export_interval
        sent = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(max(0.0, sent + interval - time.monotonic())):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._encode()
                if time.monotonic() >= sent + interval:
                    sent = time.monotonic()
                    await self._send(final=False)
            except Exception:  # the next round must still come
                log.exception("tracing_export_error")

    async def _encode(self, final: bool = False) -> None:
        """Encode the buffered calls (and count their metrics) into the batch on its way;
        a full batch is sent at once. Records are encoded soon after their call ends —
        ``SLICE`` at a time — so they are still in the cache and leave it young."""
        records, self._buffer = self._buffer, []
        batch = self.settings.batch
        metrics = self.metrics
        encode = self.encoder.encode
        pieces = self._pieces
        base = time_ns() - perf_counter_ns()
        add = metrics.add if metrics is not None else None
        spans, calls = self._spans, self._calls  # counted here, written back before any wait
        for n, record in enumerate(records, 1):
            if add is not None:
                add(record)
            if record.sampled:
                spans += encode(record, base, pieces)
                calls += 1
                if calls >= batch:
                    self._spans, self._calls = spans, calls
                    await self._send_spans(final)
                    pieces, spans, calls = self._pieces, self._spans, self._calls
            if n % SLICE == 0:
                self._spans, self._calls = spans, calls
                await asyncio.sleep(0)
                pieces, spans, calls = self._pieces, self._spans, self._calls
        self._spans, self._calls = spans, calls

    async def _send(self, final: bool) -> None:
        """Send the batch on its way, and the metrics when they are due (or ``final``)."""
        if self._pieces:
            await self._send_spans(final)
        metrics = self.metrics
        if metrics is not None and (final or time.monotonic() >= self._metrics_due):
            self._metrics_due = time.monotonic() + self.settings.metrics_interval
            body = metrics.encode(self._resource, self._scope, time_ns())
            if body is not None:
                await self._post(self.settings.metrics_url, body, "metrics", 1 if final else TRIES)

    async def flush(self) -> None:
        """Export everything buffered now, spans and metrics (shutdown; tests)."""
        await self._encode(final=True)
        await self._send(final=True)

    async def _send_spans(self, final: bool) -> None:
        pieces, spans = self._pieces, self._spans
        self._pieces, self._spans, self._calls = [], 0, 0
        body = otlp.trace_request(self._resource, self._scope, pieces)
        if await self._post(self.settings.traces_url, body, "spans", 1 if final else TRIES):
            self.exported += spans
        else:
            self.failed += spans

    async def export_request(self, body: bytes, spans: int) -> bool:
        """An OTLP trace request made elsewhere (a flow run's trace, ``flows/trace.py``) sent to
        the collector as the gateway's own are: its headers, its retries; counted when taken."""
        if await self._post(self.settings.traces_url, body, "spans"):
            self.exported += spans
            return True
        self.failed += spans
        return False

    async def _post(self, url: str, body: bytes, what: str, tries: int = TRIES) -> bool:
        delay = 0.5
        status: int | str = ""
        for attempt in range(tries):
            try:
                response = await self.http.request("POST", url, headers=self._headers, body=body,
                                                   timeout=self.settings.timeout)
                code: int = response.status
                status = code
                if 200 <= code < 300:
                    return True
                if code not in RETRIED:
                    break
            except Exception as exc:
                status = type(exc).__name__
            if attempt + 1 < tries:
                await asyncio.sleep(delay)
                delay *= 4
        self._warn(f"tracing_export_failed_{what}", "the collector did not take an export",
                   signal=what, status=status, collector=self._where())
        return False

    def _warn(self, key: str, message: str, **extra: Any) -> None:
        now = time.monotonic()
        if now < self._quiet.get(key, 0.0):
            return
        self._quiet[key] = now + QUIET
        log.warning(key.rsplit("_", 1)[0] if key.endswith(("_spans", "_metrics")) else key,
                    extra={"detail": message, **extra})

    def _where(self) -> str:
        """The collector's origin, without any credentials its URL may hold."""
        parts = urlsplit(self.settings.endpoint)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def status(self) -> dict[str, Any]:
        """For ``/health/ready``: where spans go and how many went, waited, were dropped or failed."""
        return {"collector": self._where(), "buffered": len(self._buffer), "exported_spans": self.exported,
                "dropped_calls": self.dropped, "failed_spans": self.failed}

    async def aclose(self) -> None:
        """Stop the exporter, then export what is buffered (bounded by ``timeout``)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self.flush()
        except TimeoutError:
            log.warning("tracing_unsent", extra={"calls": len(self._buffer)})
