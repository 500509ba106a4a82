"""A/B experiments: a weighted split declared an experiment, and its outcomes per variant.

An alias with ``experiment: <name>`` (``strategy: weighted``, two deployments or more)
is an experiment whose variants are its deployments, in the shares their weights
give. A request is counted for the variant the split assigned it — the first
deployment tried — whatever served it in the end (a failure that fell back still
counts against the variant that failed: intention to treat). Its answer says so in
``x-switchyard-experiment`` and ``x-switchyard-variant``.

Per variant, when each call settles: requests, errors (any error answer the gateway
gave; a client that left is not counted), cost (``call.cost``), latency of the
successful answers (a stream: to its end). Feedback (``POST /v1/feedback`` with the
answer's ``x-request-id``) is added to the variant that answered, by request id: the
most recent ``window`` requests are remembered (oldest forgotten first); a request
scored again has its score replaced. ``GET /admin/experiments/{name}`` reports each
variant's figures with 95% confidence intervals: Wilson's for the error rate, the
normal approximation (``mean ± 1.96·s/√n``, from two samples on) for the means.

Figures are kept in this process, from its start (each replica reports its own).
Nothing here runs for an alias that is not an experiment; without any, the stage is
left out of the pipeline.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from switchyard.core.call import Call
from switchyard.core.errors import ClientDisconnected, SwitchyardError

#: z for a two-sided 95% interval.
Z95 = 1.959964
#: The answer's headers (error answers carry them too).
EXPERIMENT, VARIANT = "x-switchyard-experiment", "x-switchyard-variant"
#: Requests remembered for feedback, by default.
WINDOW = 10_000


@dataclass(slots=True)
class Sums:
    """Count, sum and sum of squares: a mean and its interval (scores can be replaced)."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, value: float, times: int = 1) -> None:
        self.count += times
        self.total += value * times
        self.squares += value * value * times

    def report(self, digits: int = 6) -> dict[str, Any]:
        n = self.count
        if n == 0:
            return {"count": 0, "mean": None, "ci95": None}
        mean = self.total / n
        interval = None
        if n >= 2:
            variance = max(self.squares - n * mean * mean, 0.0) / (n - 1)
            half = Z95 * math.sqrt(variance / n)
            interval = [round(mean - half, digits), round(mean + half, digits)]
        return {"count": n, "mean": round(mean, digits), "ci95": interval}


def wilson(successes: int, n: int) -> list[float] | None:
    """Wilson's 95% interval for a proportion (None without trials)."""
    if n == 0:
        return None
    p = successes / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return [round(max(centre - half, 0.0), 6), round(min(centre + half, 1.0), 6)]


@dataclass(slots=True)
class Variant:
    id: str
    weight: float
    requests: int = 0
    errors: int = 0
    latency_ms: Sums = field(default_factory=Sums)
    cost_usd: Sums = field(default_factory=Sums)
    feedback: Sums = field(default_factory=Sums)

    def report(self) -> dict[str, Any]:
        cost = self.cost_usd.report(10)
        cost["total"] = round(self.cost_usd.total, 10)
        return {
            "variant": self.id, "weight": self.weight, "requests": self.requests, "errors": self.errors,
            "error_rate": {"value": round(self.errors / self.requests, 6) if self.requests else None,
                           "ci95": wilson(self.errors, self.requests)},
            "latency_ms": self.latency_ms.report(3), "cost_usd": cost, "feedback": self.feedback.report(),
        }


@dataclass(slots=True)
class Experiment:
    name: str
    alias: str
    variants: dict[str, Variant]
    since: float

    def report(self) -> dict[str, Any]:
        return {"object": "experiment", "name": self.name, "alias": self.alias, "since": self.since,
                "variants": [v.report() for v in self.variants.values()]}


@dataclass(slots=True)
class _Remembered:
    experiment: Experiment
    variant: Variant
    owner: str | None
    score: float | None = None


class Experiments:
    """Every experiment of the config, their figures, and the stage that feeds them."""

    def __init__(self, models: dict[str, Any], *, window: int = WINDOW, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.by_name: dict[str, Experiment] = {}
        self._by_config: dict[int, Experiment] = {}
        for alias, model in models.items():
            name = getattr(model, "experiment", None)
            if name is None:
                continue
            variants = {(d.id or f"{alias}#{n}"): Variant(d.id or f"{alias}#{n}", d.weight)
                        for n, d in enumerate(model.deployments)}
            experiment = self.by_name[name] = Experiment(name, alias, variants, clock())
            self._by_config[id(model)] = experiment
        self._recent: OrderedDict[str, _Remembered] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self.by_name)

    def stage(self) -> ExperimentStage:
        return ExperimentStage(self)

    def of(self, call: Call) -> Experiment | None:
        group = call.group
        return None if group is None else self._by_config.get(id(group.config))

    def record(self, call: Call) -> None:
        """The settler of an experiment's call (see the module docstring)."""
        error = call.error
        if error is not None and (not isinstance(error, SwitchyardError) or isinstance(error, ClientDisconnected)):
            return
        experiment = self.of(call)
        variant = experiment.variants.get(call.response_headers.get(VARIANT, "")) if experiment is not None else None
        if experiment is None or variant is None:
            return
        variant.requests += 1
        if error is not None:
            variant.errors += 1
        else:
            variant.latency_ms.add((time.perf_counter() - call.started) * 1000.0)
        if call.cost is not None:
            variant.cost_usd.add(call.cost)
        recent = self._recent
        recent[call.request_id] = _Remembered(experiment, variant, _owner(call.caller))
        if len(recent) > self.window:
            recent.popitem(last=False)

    def score(self, request_id: str, score: float, owner: str | None) -> tuple[str, str, str] | None:
        """Feedback for a remembered request: ``(experiment, variant, alias)``, or None when unknown
        (or another key's). ``owner`` None: anyone's."""
        found = self._recent.get(request_id)
        if found is None or (owner is not None and found.owner is not None and found.owner != owner):
            return None
        sums = found.variant.feedback
        if found.score is not None:
            sums.add(found.score, -1)
        found.score = score
        sums.add(score)
        return found.experiment.name, found.variant.id, found.experiment.alias

    def report(self, name: str) -> dict[str, Any] | None:
        experiment = self.by_name.get(name)
        return None if experiment is None else experiment.report()

    def listing(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"name": e.name, "alias": e.alias, "variants": list(e.variants),
                                            "requests": sum(v.requests for v in e.variants.values())}
                                           for e in self.by_name.values()]}


def _owner(caller: Any) -> str | None:
    from switchyard.observe.feedback import owner_of

    return owner_of(caller)


class ExperimentStage:
    """Marks an experiment's calls with their variant and has them counted when they settle."""

    def __init__(self, experiments: Experiments) -> None:
        self.experiments = experiments

    async def unary(self, call: Call, next: Callable[[Call], Any]) -> Any:
        experiment = self.experiments.of(call)
        if experiment is None:
            return await next(call)
        call.response_headers[EXPERIMENT] = experiment.name
        call.on_settle(self.experiments.record)
        try:
            return await next(call)
        finally:
            _assign(call, experiment)

    async def stream(self, call: Call, next: Callable[[Call], Any]) -> AsyncIterator[Any]:
        experiment = self.experiments.of(call)
        if experiment is None:
            chunks: AsyncIterator[Any] = await next(call)
            return chunks
        call.response_headers[EXPERIMENT] = experiment.name
        call.on_settle(self.experiments.record)
        try:
            chunks = await next(call)
        finally:
            _assign(call, experiment)
        return chunks


def _assign(call: Call, experiment: Experiment) -> None:
    """The variant the split assigned: the first of the experiment's deployments tried, else the one that served."""
    for attempt in call.attempts:
        if attempt.deployment in experiment.variants:
            call.response_headers[VARIANT] = attempt.deployment
            return
    served = call.route.get("deployment")
    if served in experiment.variants:
        call.response_headers[VARIANT] = served
