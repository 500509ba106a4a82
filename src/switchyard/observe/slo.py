"""The SLO monitor: objectives per alias, deployment or provider over rolling windows.

Fed by one settler (``Call.on_settle``, the ``slo`` slot of ``pipeline/order.py``):
when a call ends, each objective that watches it counts one event in its
``RollingWindow`` (``observe/slo_window.py``) — good or bad — and is evaluated
at once, in constant time. What counts:

==============  ==========================================  ==========================================
measure         an event                                    bad when
==============  ==========================================  ==========================================
availability    a request (alias); a try (deployment,       the answer was a server-side failure (5xx:
                provider: each failed try of a fallback      upstream errors, timeouts, open breakers)
                counts for its deployment)
error_rate      the same                                     it failed in any way (4xx refusals too)
latency_p95     a request (the one that served, for a        it took longer than the target, end to end
                deployment or provider)
ttft_p95        a stream that opened                         its first chunk came later than the target
==============  ==========================================  ==========================================

A client that hung up is no event. An objective holds while the bad share of
its window is at most what it allows (``1 - availability``, ``error_rate``,
5% for a p95); with fewer than ``min_requests`` events it is ``no_data``.
Going from holding to not — and only then — raises one ``slo.breach`` alert;
holding again (or running out of data) one ``slo.recovered``. A background
tick re-evaluates every few seconds, so a window that empties of bad events
recovers without new traffic. A deployment's breaker opening raises one
``breaker.open`` (a re-trip after a failed probe is the same outage: none) and
closing one ``breaker.closed``. Each gateway process judges its own traffic.

The alert, POSTed as JSON to ``slo.webhook``::

    {"type": "slo.breach", "objective": "alias=chat availability", "scope": {"alias": "chat"},
     "measure": "availability", "target": 0.995, "value": 0.96, "window_seconds": 300.0,
     "events": 50, "bad": 2, "budget_burn": 8.0, "at": "2026-11-26T07:10:26+00:00"}
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config import Config
from switchyard.core.config.slo import Objective
from switchyard.core.errors import SwitchyardError
from switchyard.observe.feedback import Feedback, owner_of
from switchyard.observe.labels import AliasLabels
from switchyard.observe.slo_alerts import AlertSender
from switchyard.observe.slo_window import RollingWindow

OK, BREACHED, NO_DATA = "ok", "breached", "no_data"
_SKIPPED = "fallback_not_allowed"
#: Seconds between evaluations without traffic.
TICK = 5.0
#: Wildcard deployment ids remembered with their provider.
MAX_PROVIDERS = 4096


class Watched:
    """One objective and its window."""

    __slots__ = ("objective", "name", "measure", "target", "allowed", "window", "state", "since")

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self.name = objective.label
        self.measure, self.target = objective.measure
        # 1 - 0.9 is 0.09999999999999998 in floating point: rounded, 5 bad of 50 is the 10% allowed
        self.allowed = round({"availability": 1.0 - self.target, "error_rate": self.target}.get(self.measure, 0.05), 12)
        self.window = RollingWindow(objective.window, bins=self.measure in ("latency_p95", "ttft_p95"))
        self.state = NO_DATA
        self.since = time.time()

    def verdict(self) -> str:
        window = self.window
        if window.total < self.objective.min_requests:
            return NO_DATA
        return BREACHED if window.bad > self.allowed * window.total else OK

    def value(self) -> float | None:
        window = self.window
        if self.measure in ("latency_p95", "ttft_p95"):
            return window.percentile(0.95)
        if not window.total:
            return None
        share = window.bad / window.total
        return 1.0 - share if self.measure == "availability" else share

    def report(self) -> dict[str, Any]:
        window = self.window
        kind, scope = self.objective.scope
        burn = (window.bad / window.total / self.allowed) if window.total else None
        value = self.value()
        return {"name": self.name, "scope": {kind: scope}, "measure": self.measure, "target": self.target,
                "window_seconds": self.objective.window, "min_requests": self.objective.min_requests,
                "events": window.total, "bad": window.bad,
                "value": None if value is None else (round(value, 6) if math.isfinite(value) else "inf"),
                "budget_burn": None if burn is None else round(burn, 4),
                "budget_remaining": None if burn is None else round(1.0 - burn, 4),
                "state": self.state, "since": _iso(self.since)}


class SloMonitor:
    """The objectives, their windows and alerts, breaker alerts, and quality feedback."""

    def __init__(self, config: Config, http: Any, clock: Callable[[], float] = time.monotonic) -> None:
        settings = config.slo
        if settings is None:
            raise ValueError("slo is not configured")
        self.settings = settings
        self.clock = clock
        self.labels = AliasLabels(config.models)
        self.alerts = AlertSender(http, settings.webhook, timeout=settings.alert_timeout)
        self.feedback = Feedback(settings.feedback_window)
        self.watched = [Watched(o) for o in settings.objectives]
        by_config = {alias: id(model) for alias, model in config.models.items()}
        self._by_alias: dict[int, list[Watched]] = {}
        self._by_deployment: dict[str, list[Watched]] = {}
        self._by_provider: dict[str, list[Watched]] = {}
        for watched in self.watched:
            kind, value = watched.objective.scope
            if kind == "alias":
                self._by_alias.setdefault(by_config[value], []).append(watched)
            elif kind == "deployment":
                self._by_deployment.setdefault(value, []).append(watched)
            else:
                self._by_provider.setdefault(value, []).append(watched)
        self._providers = {d.id or f"{alias}#{n}": d.provider
                           for alias, model in config.models.items() for n, d in enumerate(model.deployments)}
        self._models = config.models
        self._open_breakers: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.record = self._record  # the settler, bound once

    # -- the settler --------------------------------------------------------------------------------
    async def _record(self, call: Call) -> None:
        error = call.error
        if error is not None and not isinstance(error, SwitchyardError):
            return  # the client hung up (or something no status describes): no event
        group = call.group
        if group is None:
            return  # refused before an alias was known (a 404, a malformed request)
        now = self.clock()
        latency = time.perf_counter() - call.started
        status = error.status if error is not None else 200
        alias = self.labels.of_group(group)
        self.feedback.remember(call.request_id, alias, owner_of(call.caller))
        for watched in self._by_alias.get(id(group.config), ()):
            self._count(watched, call, now, status, latency)
        if self._by_deployment or self._by_provider:
            served = call.route.get("deployment")
            if served is not None:
                self._count_scoped(served, call, now, status, latency)
            for attempt in call.attempts:
                if attempt.retried or getattr(attempt.error, "code", None) == _SKIPPED:
                    continue  # a retry's failure counts with its try's final outcome
                if isinstance(attempt.error, SwitchyardError) and attempt.error.local:
                    continue  # the gateway's own limit: the deployment was never asked
                self._count_scoped(attempt.deployment, None, now, attempt.status, None)

    def _count_scoped(self, deployment: str, call: Call | None, now: float, status: int,
                      latency: float | None) -> None:
        for watched in self._by_deployment.get(deployment, ()):
            self._count(watched, call, now, status, latency)
        if self._by_provider:
            provider = self._provider_of(deployment)
            if provider is not None:
                for watched in self._by_provider.get(provider, ()):
                    self._count(watched, call, now, status, latency)

    def _count(self, watched: Watched, call: Call | None, now: float, status: int, latency: float | None) -> None:
        measure = watched.measure
        if measure == "availability":
            watched.window.add(now, status >= 500)
        elif measure == "error_rate":
            watched.window.add(now, status >= 400)
        elif call is None or latency is None:
            return  # a failed try: latency objectives count the requests served
        elif measure == "latency_p95":
            watched.window.add(now, latency > watched.target, latency)
        else:  # ttft_p95: streams that opened
            if not call.stream or not call.first_chunk:
                return
            ttft = call.first_chunk - call.started
            watched.window.add(now, ttft > watched.target, ttft)
        self._judge(watched)

    def _provider_of(self, deployment: str) -> str | None:
        provider = self._providers.get(deployment)
        if provider is None:  # a wildcard's instance: "<pattern instance>#<n>"
            alias, _, index = deployment.rpartition("#")
            pattern = self.labels.pattern(alias)
            model = self._models.get(pattern) if pattern is not None else None
            if model is None or not index.isdigit() or int(index) >= len(model.deployments):
                return None
            provider = model.deployments[int(index)].provider
            if len(self._providers) < MAX_PROVIDERS:
                self._providers[deployment] = provider
        return provider

    # -- verdicts and alerts ------------------------------------------------------------------------
    def _judge(self, watched: Watched) -> None:
        verdict = watched.verdict()
        before = watched.state
        if verdict == before:
            return
        watched.state = verdict
        watched.since = time.time()
        if verdict == BREACHED:
            self.alerts.send(self._alert("slo.breach", watched))
        elif before == BREACHED:
            self.alerts.send(self._alert("slo.recovered", watched))

    def _alert(self, kind: str, watched: Watched) -> dict[str, Any]:
        report = watched.report()
        return {"type": kind, "objective": watched.name, "scope": report["scope"], "measure": watched.measure,
                "target": watched.target, "value": report["value"], "window_seconds": report["window_seconds"],
                "events": report["events"], "bad": report["bad"], "budget_burn": report["budget_burn"],
                "state": watched.state, "at": _iso(time.time())}

    def evaluate(self) -> None:
        """Move every window to now and judge it (the background tick; tests call it)."""
        now = self.clock()
        for watched in self.watched:
            watched.window.advance(now)
            self._judge(watched)

    def breaker_changed(self, breaker: Any) -> None:
        """A breaker's trip or close decided in this process (``CircuitBreaker.subscribe``)."""
        if not self.settings.breaker_alerts:
            return
        name = breaker.name
        if breaker.state == "open" and name not in self._open_breakers:
            self._open_breakers.add(name)
            self.alerts.send({"type": "breaker.open", "deployment": name, "last_failure": breaker.last_failure,
                              "open_for_seconds": breaker.settings.open_for, "at": _iso(time.time())})
        elif breaker.state == "closed" and name in self._open_breakers:
            self._open_breakers.discard(name)
            self.alerts.send({"type": "breaker.closed", "deployment": name, "at": _iso(time.time())})

    # -- reports and lifetime -----------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """``GET /admin/slo``."""
        self.evaluate()
        return {"object": "slo_report", "objectives": [w.report() for w in self.watched],
                "breakers_open": sorted(self._open_breakers), "feedback": self.feedback.report(),
                "alerts": self.alerts.status()}

    def start(self) -> None:
        self.alerts.start()
        if self._task is None and self.watched:
            self._task = asyncio.get_running_loop().create_task(self._ticking(), name="slo-tick")

    async def _ticking(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.evaluate()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.alerts.aclose()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
