"""The series one deployment, one operation and one kind of request write to,
bound once (at deployment build, or at the first request of that kind) so the
request path never formats a label.

``Families`` declares every metric the gateway exports (``observe/metrics.py``
owns it); ``DeploymentMeters`` is what a deployment's ``Metered`` stage and the
breaker listener write; ``RequestMeters`` what one alias x deployment x
operation x (unary | stream) writes when a call settles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from switchyard.core.call import Kind
from switchyard.core.config.metrics import Buckets
from switchyard.observe.labels import OPERATIONS, DeploymentLabels, error_type
from switchyard.observe.tally import CounterTally, HistogramTally, parts

_OP = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "deployment"]
_ROUTE = ["alias", "deployment", "provider"]
#: Upper bounds of the feedback score histogram (scores are 0 to 1).
FEEDBACK_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class Families:
    """Every metric the gateway exports, declared in one registry."""

    def __init__(self, registry: CollectorRegistry, buckets: Buckets) -> None:
        r = registry
        self.buckets = buckets
        self.requests = Counter("switchyard_requests", "Requests answered, by alias, deployment (the one that "
                                "served, or the last tried), provider and status class.",
                                [*_ROUTE, "status_class"], registry=r)
        self.duration = Histogram("switchyard_request_duration_seconds", "Whole requests, from the pipeline's "
                                  "entry to the answer's end (a stream's last chunk).", ["alias", "stream"],
                                  registry=r, buckets=buckets.request)
        self.overhead = Histogram("switchyard_gateway_overhead_seconds", "The gateway's own time in an answered "
                                  "request: the whole minus upstream calls and queueing (a stream: to its first "
                                  "chunk).", ["alias", "stream"], registry=r, buckets=buckets.overhead)
        self.ttft = Histogram("switchyard_time_to_first_token_seconds", "Streams: from the pipeline's entry to "
                              "the first chunk.", ["alias"], registry=r, buckets=buckets.request)
        self.chunk = Histogram("switchyard_time_per_output_chunk_seconds", "Streams: time between consecutive "
                               "writes to the client.", ["alias"], registry=r, buckets=buckets.chunk)
        self.queue_wait = Histogram("switchyard_queue_wait_seconds", "Time admitted requests waited for limits "
                                    "and the admission queue.", ["alias"], registry=r, buckets=buckets.queue)
        self.tokens = Counter("switchyard_tokens", "Tokens by type: input, output, cached (input read from the "
                              "provider's cache), reasoning (part of output).", [*_ROUTE, "type"], registry=r)
        self.cost = Counter("switchyard_cost_usd", "Spend in US dollars, as priced by the gateway.", _ROUTE,
                            registry=r)
        self.cache = Counter("switchyard_cache_requests", "Response cache lookups by result.",
                             ["alias", "result"], registry=r)
        self.coalesced = Counter("switchyard_coalesced_requests", "Requests answered by another identical "
                                 "request's upstream call.", ["alias"], registry=r)
        self.saved = Counter("switchyard_cache_saved_usd", "What cached and coalesced answers would have cost "
                             "upstream, in US dollars.", ["alias"], registry=r)
        self.rejected = Counter("switchyard_rejected_requests", "Requests the gateway refused itself: limits, "
                                "the queue, deployment capacity, budgets.", ["alias", "reason"], registry=r)
        self.guard_detections = Counter("switchyard_guard_detections", "Values the guard found, by direction "
                                        "(input, output), category and action taken (block, redact, mask).",
                                        ["alias", "direction", "category", "action"], registry=r)
        self.guard_errors = Counter("switchyard_guard_errors", "Detectors or moderation classifiers that failed or "
                                    "timed out, by what the policy did (blocked, passed).", ["alias", "outcome"],
                                    registry=r)
        self.retries = Counter("switchyard_retries", "Tries again on the same deployment.", ["deployment"],
                               registry=r)
        self.fallbacks = Counter("switchyard_fallbacks", "Requests handed on to another deployment or a fallback "
                                 "alias after this deployment failed.", ["alias", "deployment"], registry=r)
        self.transitions = Counter("switchyard_circuit_breaker_transitions", "Breaker trips (to open) and "
                                   "recoveries (to closed) decided in this process.", ["deployment", "state"],
                                   registry=r)
        self.breaker = Gauge("switchyard_circuit_breaker_state", "Breakers in each state (1 for the current one; "
                             "with several processes, how many are in it).", ["deployment", "state"], registry=r,
                             multiprocess_mode="livesum")
        self.in_flight = Gauge("switchyard_requests_in_flight", "Requests in the pipeline now.", registry=r,
                               multiprocess_mode="livesum")
        self.queue_depth = Gauge("switchyard_queue_depth", "Requests waiting: for a concurrency slot "
                                 "(concurrency) or for a rate limit to refill (limits).", ["queue"], registry=r,
                                 multiprocess_mode="livesum")
        self.projection_lag = Gauge("switchyard_projection_lag_seconds", "How far a read model is behind its "
                                    "log: seconds since the oldest event not yet applied (0: caught up).",
                                    ["projection"], registry=r, multiprocess_mode="livemax")
        self.projection_behind = Gauge("switchyard_projection_lag_events", "Events of its log a read model has "
                                       "not applied yet.", ["projection"], registry=r, multiprocess_mode="livemax")
        self.connections = Gauge("http_client_open_connections", "Open upstream connections.",
                                 ["http_connection_state", "server_address", "server_port"], registry=r,
                                 multiprocess_mode="livesum")
        self.op_duration = Histogram("gen_ai_client_operation_duration_seconds", "Upstream operations: one "
                                     "deployment's call, its retries included (a stream: to its end).",
                                     [*_OP, "error_type"], registry=r, buckets=buckets.upstream)
        self.op_ttfc = Histogram("gen_ai_client_operation_time_to_first_chunk_seconds", "Upstream streams: to "
                                 "the first chunk.", _OP, registry=r, buckets=buckets.upstream)
        self.token_usage = Histogram("gen_ai_client_token_usage", "Tokens per upstream operation (input, "
                                     "output).", [*_OP, "gen_ai_token_type"], registry=r, buckets=buckets.tokens)
        self.tool_calls = Counter("switchyard_mcp_tool_calls", "MCP tool calls through /mcp, by server, tool "
                                  "and outcome (ok, error, refused, rate_limited, forbidden, failed).",
                                  ["server", "tool", "outcome"], registry=r)
        self.tool_duration = Histogram("switchyard_mcp_tool_call_duration_seconds", "MCP tool calls through "
                                       "/mcp, from the gateway's receipt to the answer.", ["server", "tool"],
                                       registry=r, buckets=buckets.request)
        self.feedback = Histogram("switchyard_feedback_score", "Quality scores clients gave answers "
                                  "(POST /v1/feedback, 0 to 1), by alias.", ["alias"], registry=r,
                                  buckets=FEEDBACK_BUCKETS)
        self.validations = Counter("switchyard_answer_validations", "Answers checked for an alias with "
                                   "validation:, by result: valid, or why not (json, schema, tool, too_large).",
                                   ["alias", "deployment", "result"], registry=r)
        parts(Histogram("switchyard_probe", "", registry=None, buckets=(1.0,)), 2)  # the library is as tallies expect


#: Makes (once) the tally of one series: ``counter(family, *labels)``, ``histogram(family, bounds, *labels)``.
CounterOf = Callable[..., CounterTally]
HistogramOf = Callable[..., HistogramTally]


class OpMeters:
    """One deployment's series for one operation (chat, embeddings, text_completion).
    For the stand-in of "no deployment" (``upstream=False``) there are none."""

    __slots__ = ("labels", "duration", "ttfc", "tokens_in", "tokens_out", "_errors", "_histogram", "_op")

    def __init__(self, families: Families, labels: DeploymentLabels, kind: Kind, histogram: HistogramOf,
                 upstream: bool = True) -> None:
        self.labels = labels
        op = self._op = (OPERATIONS[kind], labels.genai_provider, labels.model, labels.deployment)
        bounds = families.buckets
        self.duration = self.ttfc = self.tokens_in = self.tokens_out = None
        if upstream:
            self.duration = histogram(families.op_duration, bounds.upstream, *op, "")
            self.ttfc = histogram(families.op_ttfc, bounds.upstream, *op)
            self.tokens_in = histogram(families.token_usage, bounds.tokens, *op, "input")
            self.tokens_out = histogram(families.token_usage, bounds.tokens, *op, "output")
        self._errors: dict[type, HistogramTally] = {}
        self._histogram = (histogram, families.op_duration, bounds.upstream)

    def failed(self, error: BaseException, seconds: float) -> None:
        tally = self._errors.get(type(error))
        if tally is None:
            histogram, family, bounds = self._histogram
            tally = self._errors[type(error)] = histogram(family, bounds, *self._op, error_type(error))
        tally.observe(seconds)


class DeploymentMeters:
    """What one deployment label writes: its operations' series, retries, breaker transitions."""

    __slots__ = ("labels", "upstream", "chat", "embed", "complete", "rerank", "_families", "_counter", "_histogram",
                 "_transitions", "_retries")

    def __init__(self, families: Families, labels: DeploymentLabels, counter: CounterOf,
                 histogram: HistogramOf, upstream: bool = True) -> None:
        self.labels = labels
        self.upstream = upstream
        self._families = families
        self._counter = counter
        self._histogram = histogram
        self.chat: OpMeters | None = None
        self.embed: OpMeters | None = None
        self.complete: OpMeters | None = None
        self.rerank: OpMeters | None = None
        self._transitions: dict[str, CounterTally] = {}
        self._retries: CounterTally | None = None

    def op(self, kind: Kind) -> OpMeters:
        """The series of ``kind`` (bound on first use)."""
        if kind is Kind.CHAT:
            op = self.chat
        elif kind is Kind.EMBED:
            op = self.embed
        elif kind is Kind.COMPLETE:
            op = self.complete
        else:
            op = self.rerank
        if op is None:
            op = OpMeters(self._families, self.labels, kind, self._histogram, self.upstream)
            setattr(self, _SLOT[kind], op)
        return op

    def retried(self) -> CounterTally:
        if self._retries is None:
            self._retries = self._counter(self._families.retries, self.labels.deployment)
        return self._retries

    def breaker_changed(self, breaker: Any) -> None:
        """A trip or recovery decided here (``CircuitBreaker.subscribe(changed=...)``)."""
        state = breaker.state
        tally = self._transitions.get(state)
        if tally is None:
            tally = self._transitions[state] = self._counter(self._families.transitions, self.labels.deployment,
                                                             state)
        tally.pending += 1


_SLOT = {Kind.CHAT: "chat", Kind.EMBED: "embed", Kind.COMPLETE: "complete", Kind.RERANK: "rerank"}


class RequestMeters:
    """The series a settled call writes, for one alias x deployment x operation x (unary | stream)."""

    __slots__ = ("alias", "op", "stream", "config", "kind", "duration", "overhead", "ttft", "tokens", "queue_wait",
                 "ok", "appended", "_statuses", "_families", "_counter", "_cost", "_fallbacks")

    def __init__(self, families: Families, alias: str, op: OpMeters, stream: bool, queueing: bool,
                 counter: CounterOf, histogram: HistogramOf, config: Any = None, kind: Kind = Kind.CHAT) -> None:
        b = families.buckets
        labels = op.labels
        streaming = "true" if stream else "false"
        self.alias = alias
        self.op = op
        self.stream = stream
        #: The alias config and kind of call these meters are for (``Metrics.settled`` checks them).
        self.config = config
        self.kind = kind
        self.duration = histogram(families.duration, b.request, alias, streaming)
        self.overhead = histogram(families.overhead, b.overhead, alias, streaming)
        self.ttft = histogram(families.ttft, b.request, alias) if stream else None
        self.queue_wait = histogram(families.queue_wait, b.queue, alias) if queueing else None
        self.tokens: tuple[CounterTally, ...] = ()
        if op.tokens_in is not None:
            route = (alias, labels.deployment, labels.provider)
            self.tokens = tuple(counter(families.tokens, *route, kind)
                                for kind in ("input", "output", "cached", "reasoning"))
        self._statuses: dict[str, CounterTally] = {}
        self._families = families
        self._counter = counter
        self._cost: CounterTally | None = None
        self._fallbacks: dict[str, CounterTally] = {}
        self.ok = self.status("2xx")
        #: Answers whose figures ``Metrics.settled`` appended straight to the tallies' values.
        self.appended = 0

    def fold(self) -> None:
        """Fold what the request path appended without looking (``Metrics.settled``)."""
        self.appended = 0
        op = self.op
        for tally in (self.duration, self.overhead, op.tokens_in, op.tokens_out):
            if tally is not None:
                tally.fold()

    def used(self, usage: Any) -> None:
        """Count an answer's tokens (``core.messages.Usage``)."""
        tokens_in, tokens_out, cached, reasoning = self.tokens
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        tokens_in.pending += prompt
        tokens_out.pending += completion
        if usage.cached_tokens:
            cached.pending += usage.cached_tokens
        if usage.reasoning_tokens:
            reasoning.pending += usage.reasoning_tokens
        op = self.op
        op.tokens_in.observe(prompt)  # type: ignore[union-attr]
        op.tokens_out.observe(completion)  # type: ignore[union-attr]

    def status(self, status_class: str) -> CounterTally:
        tally = self._statuses.get(status_class)
        if tally is None:
            labels = self.op.labels
            tally = self._statuses[status_class] = self._counter(
                self._families.requests, self.alias, labels.deployment, labels.provider, status_class)
        return tally

    def cost(self) -> CounterTally:
        if self._cost is None:
            labels = self.op.labels
            self._cost = self._counter(self._families.cost, self.alias, labels.deployment, labels.provider)
        return self._cost

    def fallback(self, deployment: str) -> CounterTally:
        """The count of hand-overs away from ``deployment`` (a label) for this alias."""
        tally = self._fallbacks.get(deployment)
        if tally is None:
            tally = self._fallbacks[deployment] = self._counter(self._families.fallbacks, self.alias, deployment)
        return tally
