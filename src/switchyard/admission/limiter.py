"""``Limiter``: the gateway's admission — limits, reservations, priority queue, headers.

For each request, in order:

1. its buckets (rules.py; a virtual key brings its own key, team and tenant
   limits, which replace the rule book's for those scopes) and a token estimate: prompt + ``max_tokens`` (else
   ``default_max_tokens``);
2. one atomic reservation across all buckets (1 request, the estimate in
   tokens). Refused: when the limit frees up within ``queue.max_wait`` (and the
   deadline) the request waits in that limit's queue (waiting.py: by class,
   fair among tenants, woken when the bucket refills), else 429 naming the
   limit; a cost above a limit is refused at once. While others wait for one
   of its limits, a request queues behind them instead of trying first;
3. a slot under ``queue.concurrency`` (queue.py), waiting by class and tenant;
4. the ``x-ratelimit-*`` headers of the tightest request and token buckets.

The ``Ticket`` settles once: the real usage replaces the estimate (the
difference is refunded or charged); no usage (a failure) refunds the tokens —
the request itself stays counted, it was made. A stream whose output runs past
its reservation by more than a hard limit had left is ended with a 429 event.

Every Retry-After is the backend's own answer to "when is there room for this
request's costs" (sliding window: when enough of the oldest entries leave;
GCRA: the refill), rounded up when rendered; when the backend cannot say, a
whole period of the refusing bucket (room always returns within one).
"""

from __future__ import annotations

from typing import Any

from switchyard.admission.estimate import Estimator, chunk_tokens
from switchyard.admission.queue import AdmissionQueue
from switchyard.admission.rules import RuleBook
from switchyard.admission.ticket import NULL_TICKET, Ticket
from switchyard.admission.waiting import LimitQueue, room_for
from switchyard.core.call import Call
from switchyard.core.config.limits import LimitsConfig
from switchyard.core.errors import RateLimited
from switchyard.core.messages import Chunk, Usage
from switchyard.storage.limits.gcra import Bucket, Decision


def format_reset(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000 + 0.5))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{int(seconds + 0.5)}s"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"


def rate_headers(buckets: tuple[Bucket, ...], decision: Decision) -> dict[str, str]:
    """The ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` of the tightest buckets."""
    headers: dict[str, str] = {}
    best: dict[str, tuple[float, int, Bucket]] = {}
    for i, bucket in enumerate(buckets):
        remaining = decision.remaining(bucket, i)
        share = remaining / bucket.limit
        counts = bucket.counts
        if counts not in best or share < best[counts][0]:
            best[counts] = (share, i, bucket)
    for counts, (_, i, bucket) in best.items():
        headers[f"x-ratelimit-limit-{counts}"] = str(bucket.limit)
        headers[f"x-ratelimit-remaining-{counts}"] = str(decision.remaining(bucket, i))
        fill = decision.fills[i] if i < len(decision.fills) else 0.0
        headers[f"x-ratelimit-reset-{counts}"] = format_reset(fill)
    return headers


class Priorities:
    """A caller's priority class: its key's tier, else its tenant's, else the default;
    the priority header may only lower it."""

    def __init__(self, config: LimitsConfig) -> None:
        priority = config.priority
        self.names = list(priority.classes)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.default = self.index[priority.default]
        self.tiers = {tier: self.index[name] for tier, name in priority.tiers.items()}
        self.tenant_tiers = {name: t.tier for name, t in config.tenants.items() if t.tier}
        self.header = priority.header.lower()

    def of(self, caller: Any, headers: dict[str, str]) -> int:
        klass = self.default
        if caller is not None:
            tier = caller.tier or (self.tenant_tiers.get(caller.tenant) if caller.tenant else None)
            if tier is not None:
                klass = self.tiers.get(tier, self.index.get(tier, self.default))
        asked = headers.get(self.header)
        if asked:
            lower = self.index.get(asked.strip().lower())
            if lower is not None and lower > klass:
                klass = lower
        return klass


class LimitTicket:
    """One admitted request's reservation (and queue slot), settled once."""

    __slots__ = ("limiter", "buckets", "reserved", "prompt", "allowance", "output", "slot", "settled", "hard",
                 "ref", "cut")

    def __init__(self, limiter: Limiter, buckets: tuple[Bucket, ...], reserved: int, prompt: int) -> None:
        self.limiter = limiter
        self.buckets = buckets
        self.reserved = reserved
        self.prompt = prompt
        self.allowance: int | None = None  # output tokens before a hard limit cuts the stream
        self.hard: Bucket | None = None
        self.output = 0
        self.slot = False
        self.settled = False
        self.ref: float | None = None  # names the reservation for the backend's adjust
        self.cut: RateLimited | None = None  # the error that ended the stream (its hint is set at settle)

    def observe(self, chunk: Chunk) -> None:
        allowance = self.allowance
        if allowance is None:
            return
        self.output += chunk_tokens(chunk)
        if self.output > allowance:
            self.allowance = None
            bucket = self.hard
            self.cut = RateLimited(
                f"The stream was ended: its output crossed the {bucket.describe() if bucket else 'token limit'} "
                f"tokens per {'day' if bucket and bucket.kind == 'tpd' else 'minute'}.",
                code="token_limit_reached", retry_after=bucket.period if bucket else 60.0,
            )
            raise self.cut

    async def _hint(self, error: RateLimited) -> None:
        costs = [1 if b.counts == "requests" else self.reserved for b in self.buckets]
        wait = await room_for(self.limiter.backend, self.buckets, costs, error.retry_after)
        if wait is not None:
            error.retry_after = wait
            error.message = f"{error.message} Retry in {format_reset(wait)}."
            error.args = (error.message,)

    async def settle(self, usage: Usage | None) -> None:
        if self.settled:
            return
        self.settled = True
        try:
            if self.reserved:
                if usage is not None:
                    actual = usage.total_tokens
                elif self.output:  # a stream cut short: the tokens it produced were spent
                    actual = self.prompt + self.output
                else:
                    actual = 0
                delta = actual - self.reserved
                if delta:
                    tokens = [b for b in self.buckets if b.counts == "tokens"]
                    await self.limiter.backend.adjust(tokens, [delta] * len(tokens), self.ref)
                    waits = self.limiter.waits
                    if delta < 0 and waits is not None and waits.lanes:
                        waits.wake(tokens)
            if self.cut is not None:  # settled before the error reaches the client: say when room returns
                await self._hint(self.cut)
        finally:
            if self.slot:
                self.slot = False
                self.limiter.queue.release()  # type: ignore[union-attr]


class Limiter:
    """The configured ``Admission`` (see the module docstring)."""

    def __init__(self, config: LimitsConfig, backend: Any, estimator: Estimator) -> None:
        self.config = config
        self.backend = backend
        self.estimator = estimator
        self.rules = RuleBook(config.rules)
        self.priorities = Priorities(config)
        self.max_wait = config.queue.max_wait
        self.queue: AdmissionQueue | None = None
        if config.queue.concurrency is not None:
            self.queue = AdmissionQueue(
                config.priority.classes, config.queue.concurrency, config.queue.max_size,
                config.priority.min_share, {n: t.weight for n, t in config.tenants.items()},
            )
        self.waits: LimitQueue | None = None
        if config.queue.max_wait > 0:
            self.waits = LimitQueue(backend, len(config.priority.classes), config.queue.max_size,
                                    config.priority.min_share, {n: t.weight for n, t in config.tenants.items()})

    def _subjects(self, request: Any, group: Any, caller: Any) -> tuple[str | None, ...]:
        out: list[str | None] = []
        for scope in self.rules.scopes:
            if scope == "global":
                out.append("*")
            elif scope == "model":
                out.append(group.alias)
            elif scope == "user":
                user = getattr(request, "user", None)
                out.append(user if user is not None else (request.body.get("user") if hasattr(request, "body") else None))
            elif caller is None:
                out.append(None)
            elif scope == "key":
                out.append(caller.key_id or caller.name)
            else:
                out.append(getattr(caller, scope))
        return tuple(out)

    def applies(self, request: Any, group: Any, call: Call) -> tuple[Any, ...] | None:
        """The buckets the request counts against (a tuple, maybe empty when only the
        queue holds it); None when neither a limit nor the queue applies."""
        caller = call.caller
        buckets = self.rules.buckets(self._subjects(request, group, caller)) if self.rules else ()
        own = caller.limits if caller is not None else ()
        if own:  # a virtual key's own limits (key, team, tenant): like a named rule for each
            buckets = with_own(buckets, own)
        if not buckets and self.queue is None:
            return None
        return buckets

    async def admit(self, request: Any, group: Any, call: Call, applies: Any = None) -> Ticket:
        buckets = applies if applies is not None else self.applies(request, group, call)
        if buckets is None:
            return NULL_TICKET
        reserved = prompt = 0
        waited = 0.0
        ticket = LimitTicket(self, buckets, 0, 0)
        if buckets:
            costs: list[float] = []
            bounded = True
            if any(b.counts == "tokens" for b in buckets):
                prompt = self.estimator.prompt(request)
                completion, bounded = self.estimator.completion(request)
                reserved = prompt + completion
            for bucket in buckets:
                costs.append(1 if bucket.counts == "requests" else reserved)
            decision, waited = await self._reserve(buckets, costs, call)
            ticket.reserved, ticket.prompt, ticket.ref = reserved, prompt, decision.ref
            if not decision.degraded:
                call.response_headers.update(rate_headers(buckets, decision))
                if not bounded and request_streams(request):
                    self._arm(ticket, decision, reserved - prompt)
        if self.queue is not None:
            klass, flow = self._class_and_flow(call)
            try:
                waited += await self.queue.acquire(klass, flow, self._wait_budget(call),
                                                   getattr(call, "client_gone", None))
            except BaseException as exc:
                await ticket.settle(None)
                if hasattr(exc, "headers"):
                    exc.headers.update(call.response_headers)
                raise
            ticket.slot = True
        if waited:
            call.route["queued-ms"] = str(int(waited * 1000))
        return ticket

    def _class_and_flow(self, call: Call) -> tuple[int, str]:
        caller = call.caller
        flow = (caller.tenant or caller.name) if caller is not None else "anonymous"
        return self.priorities.of(caller, call.headers), flow

    def _wait_budget(self, call: Call) -> float:
        remaining = call.remaining()
        return self.max_wait if remaining is None else max(0.0, min(self.max_wait, remaining))

    async def _reserve(self, buckets: tuple[Bucket, ...], costs: list[float], call: Call) -> tuple[Decision, float]:
        """The admitting decision, and the seconds spent waiting for it."""
        waits = self.waits
        lane = waits.lane_for(buckets) if waits is not None and waits.lanes else None
        budget = self._wait_budget(call) if lane is not None else 0.0
        decision: Decision | None = None
        if lane is None or budget <= 0:
            decision = await self.backend.acquire(buckets, costs)
            if decision.allowed:
                return decision, 0.0
            if waits is None or decision.retry_after > (budget := self._wait_budget(call)):
                raise self._refusal(buckets, costs, decision)
            lane = buckets[decision.refused].key
        assert waits is not None
        klass, flow = self._class_and_flow(call)
        return await waits.wait(
            lane, buckets, costs, klass, flow, budget, decision.retry_after if decision is not None else 0.0,
            lambda d, key: self._refusal(buckets, costs, d, key), getattr(call, "client_gone", None),
        )

    def _refusal(self, buckets: tuple[Bucket, ...], costs: list[float], decision: Decision | None,
                 key: str = "") -> RateLimited:
        if decision is None:  # named by a waiting lane: the lane asks the backend when (room_for)
            index = next((i for i, b in enumerate(buckets) if b.key == key), 0)
            bucket = buckets[index]
            return RateLimited(
                f"Rate limit reached for the {bucket.describe()} {bucket.counts} per "
                f"{'day' if bucket.kind == 'tpd' else 'minute'}.",
                retry_after=bucket.period,  # the fallback: room always returns within one period
                headers={"x-switchyard-limit": f"{bucket.scope}={bucket.subject} {bucket.kind}"},
            )
        bucket = buckets[decision.refused]
        cost = int(costs[decision.refused])
        headers = rate_headers(buckets, decision)
        headers["x-switchyard-limit"] = f"{bucket.scope}={bucket.subject} {bucket.kind}"
        if decision.retry_after == float("inf"):
            return RateLimited(
                f"Request too large for the {bucket.describe()}: it needs {cost} {bucket.counts} "
                f"(prompt plus max_tokens), more than the whole limit. Lower max_tokens or shorten the prompt.",
                code="request_too_large_for_limit", headers=headers,
            )
        return RateLimited(
            f"Rate limit reached for the {bucket.describe()} {bucket.counts} per "
            f"{'day' if bucket.kind == 'tpd' else 'minute'}: this request needs {cost}; "
            f"retry in {format_reset(decision.retry_after)}.",
            retry_after=decision.retry_after, headers=headers,
        )

    def _arm(self, ticket: LimitTicket, decision: Decision, completion: int) -> None:
        """Let a stream without ``max_tokens`` run past its reservation only as far as
        its hard token limits had room left when it was admitted."""
        room: int | None = None
        for i, bucket in enumerate(ticket.buckets):
            if bucket.hard and bucket.counts == "tokens":
                left = decision.remaining(bucket, i)
                if room is None or left < room:
                    room, ticket.hard = left, bucket
        if room is not None:
            ticket.allowance = completion + room

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.backend.status())
        if self.queue is not None:
            out["queue"] = self.queue.status()
        if self.waits is not None:
            out["limit_queue"] = self.waits.status()
        return out

    async def aclose(self) -> None:
        if self.waits is not None:
            await self.waits.aclose()


def with_own(buckets: tuple[Bucket, ...], own: tuple[Bucket, ...]) -> tuple[Bucket, ...]:
    """The rule book's buckets with each scope the caller brings limits of its own for
    replaced by those (as a rule with ``match`` replaces the scope's catch-all)."""
    scopes = {bucket.scope for bucket in own}
    return tuple(b for b in buckets if b.scope not in scopes) + own


def request_streams(request: Any) -> bool:
    return bool(getattr(request, "stream", False))

