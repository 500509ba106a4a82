"""Prometheus metrics: what the gateway counts, and ``GET /metrics``.

``Metrics`` is built by ``Services.start`` when ``metrics.enabled``; nothing
exists otherwise. It is fed from four places, none of them a wrapper per chunk:

- the metrics stage (``observe/measure.py``), right after auth in the pipeline: a
  settler per call (``Call.on_settle``) counts the request, its duration and
  overhead, tokens, cost, cache and coalescing, retries, fallbacks and refusals;
  a stream also at its opening (time to first token);
- the ``Metered`` stage on each deployment's policy chain, bound to that
  deployment's series when the deployment is built: upstream duration, time to
  first chunk, failures by error type;
- the breaker's ``subscribe(changed=...)``: trips and recoveries; the server's
  stream pump: the time between chunks written to the client;
- state read when figures are written (a scrape; with several processes, each
  ``flush_interval``): breakers, queue depths, open upstream connections,
  requests in flight.

Figures are added to tallies (``observe/tally.py``) and moved into
``prometheus_client`` when written. With ``PROMETHEUS_MULTIPROC_DIR`` set,
every process writes its own files there and a scrape of any one of them
reports the sum of all (``prometheus_client``'s multiprocess mode); a process
that stops removes its gauges, one that died is noticed at the next scrape.
Label values are bounded: ``observe/labels.py``.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from switchyard.core.call import Call, Kind
from switchyard.core.config import Config, ConfigError
from switchyard.observe.labels import (
    CACHE_RESULTS,
    NO_DEPLOYMENT,
    NONE,
    OTHER,
    OTHER_DEPLOYMENT,
    AliasLabels,
    DeploymentLabels,
    class_of,
    rejection,
    status_class,
)
from switchyard.observe.meters import FEEDBACK_BUCKETS, DeploymentMeters, Families, OpMeters, RequestMeters
from switchyard.observe.tally import CounterTally, HistogramTally

FOLD_AT = HistogramTally.FOLD_AT

log = logging.getLogger("switchyard.metrics")

#: Wildcard deployments remembered by id (the catalog keeps at most 1024 wildcard aliases).
MAX_WILDCARD_DEPLOYMENTS = 4096
#: Guard categories exported by name: the built-ins, the config's detectors, and plugins' own up to this many.
MAX_GUARD_CATEGORIES = 64
_SKIPPED = "fallback_not_allowed"  # a fallback alias the key may not use: recorded, never tried
_BREAKER_STATES = ("closed", "open", "half_open")


class Metrics:
    """The gateway's figures and their exposition (see the module docstring)."""

    def __init__(self, config: Config) -> None:
        settings = self.settings = config.metrics
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if directory is not None and not os.path.isdir(directory):
            raise ConfigError([("PROMETHEUS_MULTIPROC_DIR", f"is not a directory: {directory}")])
        self.directory = directory
        self.registry = CollectorRegistry(auto_describe=True)
        self.families = Families(self.registry, settings.buckets)
        if directory is None:  # process figures describe the scraped process only: not with several
            ProcessCollector(registry=self.registry)
        self._exposed = CollectorRegistry(auto_describe=False)
        self._exposed.register(_WithoutCreated(self.registry))
        self.aliases = AliasLabels(config.models)
        limits = config.limits
        self.queueing = limits is not None and (limits.queue.concurrency is not None or limits.queue.max_wait > 0)
        self.in_flight = 0
        self._tallies: list[CounterTally | HistogramTally] = []
        self._series: dict[tuple[Any, ...], Any] = {}
        self._configured: dict[str, DeploymentMeters] = {}
        self._wildcards: dict[str, DeploymentMeters] = {}
        self._by_labels: dict[DeploymentLabels, DeploymentMeters] = {}
        self._none = self._meters_for(NO_DEPLOYMENT, upstream=False)
        self._requests: dict[tuple[int, OpMeters, bool], RequestMeters] = {}
        #: Served deployment id -> the meters its last unary / streamed call used.
        self._unary: dict[str, RequestMeters] = {}
        self._streams: dict[str, RequestMeters] = {}
        self._by_alias: dict[tuple[Any, ...], Any] = {}
        self._sources: tuple[Any, Any, Any] | None = None
        self._projector: Any = None
        self._gauges: set[tuple[Any, ...]] = set()
        self._task: asyncio.Task[None] | None = None
        self._guard_categories: set[str] = set()

    # -- series, bound once ---------------------------------------------------------------------
    def _counter(self, family: Any, *labels: str) -> CounterTally:
        key = (family, *labels)
        tally = self._series.get(key)
        if tally is None:
            tally = self._series[key] = CounterTally(family, labels)
            self._tallies.append(tally)
        return tally

    def _histogram(self, family: Any, bounds: Any, *labels: str) -> HistogramTally:
        key = (family, *labels)
        tally = self._series.get(key)
        if tally is None:
            tally = self._series[key] = HistogramTally(family, labels, bounds)
            self._tallies.append(tally)
        return tally

    def _meters_for(self, labels: DeploymentLabels, upstream: bool = True) -> DeploymentMeters:
        meters = self._by_labels.get(labels)
        if meters is None:
            meters = self._by_labels[labels] = DeploymentMeters(self.families, labels, self._counter,
                                                                self._histogram, upstream)
        return meters

    def deployment(self, deployment_id: str, alias: str, config: Any, adapter: Any = None,
                   breaker: Any = None) -> DeploymentMeters:
        """The series of a deployment being built (``DeploymentFactory``); a wildcard
        instance shares its pattern's. Listens to its breaker's trips and recoveries."""
        labels = self.aliases.deployment(deployment_id, alias, config, getattr(adapter, "known_models", ()))
        meters = self._meters_for(labels)
        if labels.deployment == deployment_id:
            self._configured[deployment_id] = meters
        else:
            wildcards = self._wildcards
            if len(wildcards) >= MAX_WILDCARD_DEPLOYMENTS:
                wildcards.pop(next(iter(wildcards)))
            wildcards[deployment_id] = meters
        if breaker is not None:
            breaker.subscribe(changed=meters.breaker_changed)
        return meters

    def stage(self) -> Any:
        """The request stage that feeds these figures (``observe/measure.py``)."""
        from switchyard.observe.measure import Measure

        return Measure(self)

    def metered(self, chain: Any, deployment_id: str, alias: str, config: Any, adapter: Any = None,
                breaker: Any = None) -> Any:
        """``chain`` (a deployment's ``policies.chain.Chain``) with the ``Metered`` stage
        outermost, bound to the deployment's series (see ``deployment``)."""
        from switchyard.core.stage import fold
        from switchyard.observe.measure import Metered
        from switchyard.policies.chain import Chain

        stage = Metered(self.deployment(deployment_id, alias, config, adapter, breaker))
        unary, stream = fold([stage], chain.unary, chain.stream)
        return Chain(unary, stream, (stage, *chain.stages))

    def _deployment_of(self, deployment_id: str) -> DeploymentMeters:
        meters = self._configured.get(deployment_id) or self._wildcards.get(deployment_id)
        return meters if meters is not None else self._meters_for(OTHER_DEPLOYMENT)

    def _request_meters(self, alias: str, op: OpMeters, stream: bool, config: Any, kind: Kind) -> RequestMeters:
        key = (id(config), op, stream)  # alias configs live as long as the gateway
        meters = self._requests.get(key)
        if meters is None:
            meters = self._requests[key] = RequestMeters(self.families, alias, op, stream, self.queueing,
                                                         self._counter, self._histogram, config, kind)
        return meters

    def _meters_of(self, call: Call) -> RequestMeters:
        served = call.route.get("deployment")
        if served is not None:
            deployment = self._deployment_of(served)
        else:
            deployment = self._none
            for attempt in reversed(call.attempts):
                if getattr(attempt.error, "code", None) != _SKIPPED:
                    deployment = self._deployment_of(attempt.deployment)
                    break
        group = call.group
        return self._request_meters(self.aliases.of_group(group), deployment.op(call.kind), call.stream,
                                    getattr(group, "config", None), call.kind)

    def _per_alias(self, family: Any, alias: str, *labels: str, bounds: Any = None) -> Any:
        key = (family, alias, *labels)
        tally = self._by_alias.get(key)
        if tally is None:
            tally = self._by_alias[key] = (self._counter(family, alias, *labels) if bounds is None
                                           else self._histogram(family, bounds, alias, *labels))
        return tally

    # -- what the stages and the server report --------------------------------------------------------
    def opened(self, call: Call) -> None:
        """A stream's first chunk is ready: time to first token and the overhead to it."""
        served = call.route.get("deployment")
        group = call.group
        meters = self._streams.get(served)  # type: ignore[arg-type]
        if meters is None or meters.config is not (group.config if group is not None else None) \
                or meters.kind is not call.kind:
            meters = self._remember(call, served)
        ttft = perf_counter() - call.started
        meters.ttft.observe(ttft)  # type: ignore[union-attr]
        overhead = ttft - call.upstream_seconds - _queued(call)
        meters.overhead.observe(overhead if overhead > 0.0 else 0.0)

    def settled(self, call: Call) -> None:
        """A call's answer is complete (its settler): everything counted per request."""
        self.in_flight -= 1
        now = perf_counter()
        route = call.route
        served = route.get("deployment")
        group = call.group
        meters = (self._streams if call.stream else self._unary).get(served)  # type: ignore[arg-type]
        if meters is None or meters.config is not (group.config if group is not None else None) \
                or meters.kind is not call.kind:
            meters = self._remember(call, served)
        error = call.error
        usage = call.usage
        queued = _queued(call) if self.queueing else 0.0
        if error is None and usage is not None and not call.stream and not call.attempts and meters.tokens:
            # The usual answer, written out: Python calls are most of the cost here. The
            # values go straight into the tallies; ``appended`` keeps them bounded.
            meters.ok.pending += 1
            total = now - call.started
            meters.duration.values.append(total)
            overhead = total - call.upstream_seconds - queued
            meters.overhead.values.append(overhead if overhead > 0.0 else 0.0)
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            tokens = meters.tokens
            tokens[0].pending += prompt
            tokens[1].pending += completion
            if usage.cached_tokens:
                tokens[2].pending += usage.cached_tokens
            if usage.reasoning_tokens:
                tokens[3].pending += usage.reasoning_tokens
            op = meters.op
            op.tokens_in.values.append(prompt)  # type: ignore[union-attr]
            op.tokens_out.values.append(completion)  # type: ignore[union-attr]
            meters.appended += 1
            if meters.appended >= FOLD_AT:
                meters.fold()
        else:
            self._settled_otherwise(call, meters, now, queued)
        if meters.queue_wait is not None and group is not None and (error is None or call.upstream_seconds):
            meters.queue_wait.observe(queued)
        cost = call.cost
        if cost:
            meters.cost().pending += cost
        cache = route.get("cache")
        if cache is not None or call.cached:
            self._cached(meters.alias, cache or "hit")
        if call.coalesced:
            self._per_alias(self.families.coalesced, meters.alias).pending += 1
        if call.saved:
            self._per_alias(self.families.saved, meters.alias).pending += call.saved

    def guarded(self, call: Call, found: dict[tuple[str, str, str], int], failed: str | None) -> None:
        """What the guard found in a call (``(direction, category, action) -> count``) and
        whether a detector failed (``blocked``/``passed``). Categories are the config's (built-in
        and configured detectors); a plugin's own beyond ``MAX_GUARD_CATEGORIES`` count as ``other``."""
        alias = self.aliases.of_group(call.group)
        families = self.families
        for (direction, category, action), count in found.items():
            if category not in self._guard_categories:
                if len(self._guard_categories) >= MAX_GUARD_CATEGORIES:
                    category = OTHER
                else:
                    self._guard_categories.add(category)
            self._counter(families.guard_detections, alias, direction, category, action).pending += count
        if failed is not None:
            self._counter(families.guard_errors, alias, failed).pending += 1

    def validated(self, call: Call, deployment_id: str, result: str) -> None:
        """An answer checked by response validation: ``valid``, or the kind of problem."""
        alias = self.aliases.of_group(call.group)
        self._counter(self.families.validations, alias, deployment_id, result).pending += 1

    def feedback(self, alias: str, score: float) -> None:
        """A quality score for an answer of ``alias`` (a configured alias, or ``other``)."""
        label = alias if alias in self.aliases.plain or alias.endswith("/*") else OTHER
        self._per_alias(self.families.feedback, label, bounds=FEEDBACK_BUCKETS).observe(score)

    def _remember(self, call: Call, served: str | None) -> RequestMeters:
        """The meters of ``call`` the long way, remembered by the deployment that served
        (the request path's one lookup; a deployment serving several aliases or kinds
        of call takes this way more often, never a wrong one)."""
        meters = self._meters_of(call)
        if served is not None:  # else the last attempt decides: not remembered
            recent = self._streams if call.stream else self._unary
            if len(recent) >= MAX_WILDCARD_DEPLOYMENTS:
                recent.clear()  # wildcard traffic: cheap to rebuild, the series are kept
            recent[served] = meters
        return meters

    def _settled_otherwise(self, call: Call, meters: RequestMeters, now: float, queued: float) -> None:
        """Streams, failures, retries and fallbacks, answers without usage."""
        error = call.error
        stream = call.stream
        total = now - call.started
        meters.duration.observe(total)
        if error is None:
            meters.ok.pending += 1
            if not stream:
                overhead = total - call.upstream_seconds - queued
                meters.overhead.observe(overhead if overhead > 0.0 else 0.0)
        else:
            meters.status(status_class(error)).pending += 1
            reason = rejection(error)
            if reason is not None:
                self._per_alias(self.families.rejected, meters.alias, reason).pending += 1
        if stream and call.upstream_started:
            self._stream_ended(call, meters.op, error, now)
        if call.usage is not None and meters.tokens:
            meters.used(call.usage)
        if call.attempts:
            self._attempts(call, meters)

    @staticmethod
    def _stream_ended(call: Call, op: OpMeters, error: BaseException | None, now: float) -> None:
        """The upstream operation of a stream ends with it."""
        if op.duration is None:
            return
        if error is None:
            op.duration.observe(now - call.upstream_started)
        else:
            op.failed(error, now - call.upstream_started)

    def _cached(self, alias: str, result: str) -> None:
        if result in CACHE_RESULTS:
            self._per_alias(self.families.cache, alias, result).pending += 1

    def _attempts(self, call: Call, meters: RequestMeters) -> None:
        """Retries (by deployment) and hand-overs to the next deployment or a fallback
        alias (by the deployment that failed; a request that failed in the end was not
        handed on from its last)."""
        handed: list[str] = []
        for attempt in call.attempts:
            if getattr(attempt, "retried", False):
                self._deployment_of(attempt.deployment).retried().pending += 1
            elif getattr(attempt.error, "code", None) != _SKIPPED:
                handed.append(attempt.deployment)
        if call.error is not None and handed:
            handed.pop()
        for deployment_id in handed:
            meters.fallback(self._deployment_of(deployment_id).labels.deployment).pending += 1

    def refused(self, status: int) -> None:
        """A request answered before it reached the pipeline (401, a malformed body...)."""
        cls = class_of(status)
        key = ("refused", cls)
        tally = self._by_alias.get(key)
        if tally is None:
            tally = self._by_alias[key] = self._counter(self.families.requests, OTHER, NONE, NONE, cls)
        tally.pending += 1

    def tool_call(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        """An MCP tool call (``mcp/hub.py``); ``server`` and ``tool`` are configured or listed names
        (an unknown one is ``other``), never what a client made up."""
        self._counter(self.families.tool_calls, server, tool, outcome).pending += 1
        self._histogram(self.families.tool_duration, self.settings.buckets.request, server, tool).observe(seconds)

    def chunk_gaps(self, call: Any) -> HistogramTally:
        """Where the server's stream pump adds the time between its writes to the client."""
        alias = self.aliases.of_group(getattr(call, "group", None))
        return self._per_alias(self.families.chunk, alias, bounds=self.settings.buckets.chunk)  # type: ignore[no-any-return]

    # -- state, exposition, lifetime ------------------------------------------------------------------
    def watch(self, catalog: Any, admission: Any, http: Any, projector: Any = None) -> None:
        """Read breakers (from the catalog's deployments), queues (admission),
        connections (the upstream client) and the read models' lag (the projector)
        whenever figures are written."""
        self._sources = (catalog, admission, http)
        self._projector = projector

    def flush(self) -> None:
        """Move everything counted since the last flush into ``prometheus_client``."""
        self._sample()
        for tally in self._tallies:
            tally.flush()

    def _set(self, gauge: Any, labels: tuple[str, ...], value: float, seen: set[tuple[Any, ...]]) -> None:
        key = (gauge, *labels)
        (gauge.labels(*labels) if labels else gauge).set(value)
        seen.add(key)

    def _sample(self) -> None:
        families = self.families
        seen: set[tuple[Any, ...]] = set()
        self._set(families.in_flight, (), self.in_flight, seen)
        if self._sources is not None:
            catalog, admission, http = self._sources
            states: dict[str, dict[str, int]] = {}
            for deployment in catalog.deployments():
                breaker = deployment.health.breaker
                if breaker is not None:
                    label = self._deployment_of(deployment.id).labels.deployment
                    counts = states.setdefault(label, dict.fromkeys(_BREAKER_STATES, 0))
                    counts[breaker.state] = counts.get(breaker.state, 0) + 1
            for label, counts in states.items():
                for state, count in counts.items():
                    self._set(families.breaker, (label, state), count, seen)
            limiter = getattr(admission, "admission", None)
            for name, queue in (("concurrency", getattr(limiter, "queue", None)),
                                ("limits", getattr(limiter, "waits", None))):
                if queue is not None:
                    self._set(families.queue_depth, (name,), queue.size, seen)
            connections: dict[tuple[str, str, str], int] = {}
            for origin, stats in http.pool_stats().items():
                parts = urlsplit(origin.split(" ", 1)[0])  # "https://host:443 via proxy ...": the origin
                address, port = parts.hostname or "", str(parts.port or "")
                opened = stats.get("open", 0)
                # HTTP/2 pools count streams, not idle connections: one without streams is idle
                idle = stats["idle"] if "idle" in stats else (opened if not stats.get("streams") else 0)
                for state, count in (("active", opened - idle), ("idle", idle)):
                    key = (state, address, port)
                    connections[key] = connections.get(key, 0) + count
            for origin_labels, count in connections.items():
                self._set(families.connections, origin_labels, count, seen)
        if self._projector is not None:
            for name, (seconds, behind) in self._projector.lag().items():
                self._set(families.projection_lag, (name,), seconds, seen)
                self._set(families.projection_behind, (name,), behind, seen)
        for gone in self._gauges - seen:  # a pool closed, a wildcard deployment evicted: zero, not stale
            gauge, *labels = gone
            gauge.labels(*labels).set(0)
        self._gauges |= seen

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The text a scrape gets (Prometheus text or OpenMetrics, as ``accept`` asks) and its content type."""
        self.flush()
        encoder, content_type = choose_encoder(accept or "")
        if self.directory is None:
            return encoder(self._exposed), content_type
        self._reap()
        merged = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(merged, path=self.directory)  # type: ignore[no-untyped-call]
        return encoder(merged), content_type

    def _reap(self) -> None:
        """Remove the gauges of processes that died without saying so (killed)."""
        assert self.directory is not None
        me = os.getpid()
        for path in glob.glob(os.path.join(self.directory, "gauge_live*_*.db")):
            try:
                pid = int(os.path.basename(path)[:-3].rsplit("_", 1)[1])
            except ValueError:
                continue
            if pid != me and not _alive(pid):
                mark_process_dead(pid, self.directory)  # type: ignore[no-untyped-call]

    def start(self) -> None:
        """With several processes, write this one's figures every ``flush_interval``."""
        if self.directory is not None and self._task is None:
            self._task = asyncio.ensure_future(self._flushing())

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            try:
                self.flush()
            except Exception:  # a full disk must not stop the next round
                log.exception("metrics flush failed")

    async def aclose(self) -> None:
        """Write the last figures; with several processes, take this one's gauges out of the sum."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.directory is not None:
            self.flush()
            mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]


class _WithoutCreated:
    """The families of ``registry`` without their ``*_created`` samples: each would be
    one more series per counter and histogram in Prometheus, for a start time
    nobody queries (the multiprocess files never keep them)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Any:
        for family in self.registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


def _queued(call: Call) -> float:
    """Seconds the call waited in admission (limits and the queue)."""
    text = call.route.get("queued-ms")
    return int(text) / 1000.0 if text else 0.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
