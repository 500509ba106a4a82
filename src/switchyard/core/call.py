"""Per-call context handed to providers and policies."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("switchyard.pipeline")


class Kind(enum.Enum):
    """What a call asks for; with ``Call.stream`` it picks the provider method."""

    CHAT = "chat"
    EMBED = "embed"
    COMPLETE = "complete"
    RERANK = "rerank"


@dataclass(slots=True)
class Attempt:
    """One failed try at one deployment, for the error that lists them all."""

    deployment: str
    status: int
    reason: str
    error: Any = None
    #: Tried again on the same deployment (a retry), rather than handed on to the next one.
    retried: bool = False


@dataclass(slots=True)
class Call:
    """One request on its way through the pipeline: what was asked and what the
    stages learned about it.

    ``request`` is the validated body (``ChatRequest``, ``EmbeddingRequest`` or
    ``CompletionRequest``), ``kind`` and ``stream`` say which provider method
    serves it. ``deadline`` is an absolute ``time.monotonic()`` instant or None;
    every layer that waits bounds its wait by it. ``group`` is the model group
    the request was resolved to (set by the resolve stage), ``usage`` the usage
    of the answer (set when known, for accounting and the access log).
    """

    request_id: str
    request: Any = None
    kind: Kind = Kind.CHAT
    stream: bool = False
    deadline: float | None = None
    caller: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    attempts: list[Any] = field(default_factory=list)
    route: dict[str, str] = field(default_factory=dict)
    #: Headers any stage wants on the response (rate-limit state, route taken...).
    response_headers: dict[str, str] = field(default_factory=dict)
    #: The response headers the provider keeps (rate-limit state, request ids) from the
    #: last upstream answer of this call: set by the provider's driver when a unary
    #: answer arrives or a stream opens; None before any.
    upstream_headers: dict[str, str] | None = None
    #: ``await client_gone()`` returns when the client disconnects (set by the server);
    #: for a stage that makes a request wait, e.g. the admission queue.
    client_gone: Any = None
    #: The model alias the request asked for (the access log's ``alias``); set by the resolve stage.
    alias: str | None = None
    #: Tags the deployments of the routed alias must carry (a routing rule's ``route_tags``).
    tags: tuple[str, ...] = ()
    #: The model group serving the request, once resolved (``pipeline/stages/resolve.py``).
    group: Any = None
    #: The answer's token usage (``core.messages.Usage``) once known, for a stream at its end;
    #: recorded by the pipeline as the answer leaves it, read by the access log and settlers.
    usage: Any = None
    #: True when ``usage`` is the gateway's estimate: a stream that ended without the upstream's
    #: usage (its client left, it broke) is charged for its prompt and the output it sent.
    estimated: bool = False
    #: The deployment that answered (``routing.catalog.Deployment``; set by the route stage).
    deployment: Any = None
    #: What the answer cost in US dollars (its deployment's price of ``usage``), once known.
    cost: float | None = None
    #: About how many tokens of output a stream has sent so far (counted as its chunks pass).
    streamed: int = 0
    #: Whether the answer came from the response cache (``switchyard.cache``).
    cached: bool = False
    #: Whether the answer was another identical request's upstream call, shared (coalesced).
    coalesced: bool = False
    #: What a cached or coalesced answer would have cost had it been asked upstream (US dollars).
    saved: float | None = None
    #: How the call failed, once it has (set by the pipeline before the settlers run).
    error: BaseException | None = None
    #: ``time.perf_counter()`` when the call entered the pipeline.
    started: float = 0.0
    #: ``time.perf_counter()`` when a stream's first chunk was ready (it opened); 0.0 before.
    first_chunk: float = 0.0
    #: Seconds spent waiting on upstreams: every deployment tried, its retries and their
    #: backoff included; a stream's until its first chunk. Kept only with metrics on.
    upstream_seconds: float = 0.0
    #: ``time.perf_counter()`` when the try that answered began (0.0 until one did; metrics on).
    upstream_started: float = 0.0
    #: What stages asked to run once the answer is complete (``on_settle``); None: nothing.
    settlers: list[Callable[[Call], Awaitable[None] | None]] | None = None
    #: Settlers that run after all the others (``on_settle(..., last=True)``: metrics).
    last_settlers: list[Callable[[Call], Awaitable[None] | None]] | None = None
    #: Told ``True`` when the attempt in progress starts waiting for a free upstream
    #: connection of the gateway's own pool, ``False`` when it stops (passed to the
    #: transport by the provider's driver); the timeout policy sets it so that wait
    #: does not count as the upstream's time to first token.
    on_pool_wait: Any = None
    #: What stages asked to see after each chunk of a stream (``on_chunk``); None: nothing.
    watchers: list[Callable[[Call], None]] | None = None
    #: Headers every upstream request of the attempt in progress carries besides the
    #: adapter's own (set per attempt by a policy, e.g. the W3C ``traceparent``); None: none.
    outbound_headers: dict[str, str] | None = None
    #: What the tracing stage records of this call (``observe/spans.py``); None when tracing is off.
    trace: Any = None

    def outgoing_headers(self) -> list[tuple[bytes, bytes]]:
        """Response headers: ``x-switchyard-<key>`` for the route, then the rest."""
        out = [(b"x-switchyard-" + k.encode(), v.encode("latin-1", "replace")) for k, v in self.route.items()]
        out.extend((k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in self.response_headers.items())
        return out

    def on_settle(self, settle: Callable[[Call], Awaitable[None] | None], *, last: bool = False) -> None:
        """Have the pipeline ``await settle(call)`` exactly once, when the answer is
        complete: a unary answer returned or failed, a stream ended, failed or was
        dropped by its client — with ``call.usage`` holding what was used. A stage
        that reserves before the call (a budget, a limit) releases or settles here.
        ``settle`` may be a plain function (nothing to await: no coroutine per call).
        Settlers run in the order they were registered; ``last`` ones after all the
        others (to see what those recorded), whenever they were registered. One registered before the call enters the
        pipeline runs before every stage's (the batch runner's, which prices a batch line
        at its batch rate before budgets and spend records read ``call.cost``)."""
        if last:
            if self.settlers is None:
                self.settlers = []  # (the pipeline runs the settlers when this is not None)
            if self.last_settlers is None:
                self.last_settlers = [settle]
            else:
                self.last_settlers.append(settle)
            return
        if self.settlers is None:
            self.settlers = [settle]
        else:
            self.settlers.append(settle)

    def on_chunk(self, watch: Callable[[Call], None]) -> None:
        """Have the pipeline call ``watch(call)`` after each chunk of a stream, once
        ``call.streamed`` counts it and before the client gets it; ``watch`` may raise
        (a ``SwitchyardError``) to end the stream with that error as its last event."""
        if self.watchers is None:
            self.watchers = [watch]
        else:
            self.watchers.append(watch)

    async def settle(self) -> None:
        """Run the settlers (the pipeline calls this once per call). One that fails is
        logged and the others still run: an answer already given is not taken back."""
        pending = self.settle_now()
        if pending is not None:
            await pending

    def settle_now(self) -> Awaitable[None] | None:
        """``settle`` without a coroutine while the settlers are plain functions (budgets in
        memory, spend records, metrics): they run here, and what is left — from the first
        settler that returned an awaitable on — comes back to be awaited; None when nothing is."""
        settlers, self.settlers = self.settlers, None
        if self.last_settlers is not None:
            settlers = [*(settlers or ()), *self.last_settlers]
            self.last_settlers = None
        if not settlers:
            return None
        for i, settle in enumerate(settlers):
            try:
                pending = settle(self)
            except Exception:
                log.exception("settle failed", extra={"request_id": self.request_id})
                continue
            if pending is not None:
                return self._settle_rest(pending, settlers[i + 1:])
        return None

    async def _settle_rest(self, pending: Awaitable[None], rest: list[Callable[[Call], Awaitable[None] | None]]) -> None:
        try:
            await pending
        except Exception:
            log.exception("settle failed", extra={"request_id": self.request_id})
        for settle in rest:
            try:
                more = settle(self)
                if more is not None:
                    await more
            except Exception:
                log.exception("settle failed", extra={"request_id": self.request_id})

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when there is none."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()
