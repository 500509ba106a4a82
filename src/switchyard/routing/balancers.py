"""Balancing strategies: the order in which a group's available deployments are tried.

One balancer per model group (``strategy:`` in the model's config)::

    round_robin   each request starts one further along the list
    weighted      weighted random first pick (A/B and canary splits: weights 90/10)
    least_busy    fewest calls in flight first
    latency       lowest EWMA latency (time to first token for streams) first,
                  with a small share of random picks so a recovered deployment is seen
    cost          cheapest for the request's estimated tokens first (unpriced last)
    headroom      most remaining RPM/TPM capacity first (routing-side estimate)

``order`` gets only available deployments and returns them best first (the
rest are the fallbacks). ``score`` is what ``order`` sorts by, for the dry-run:
lower is better, ``None`` where the strategy has no score. Ties rotate, so
equal deployments share the traffic.
"""

from __future__ import annotations

import itertools
import random
import time
from bisect import bisect
from itertools import accumulate
from dataclasses import dataclass
from typing import Any, ClassVar

from switchyard.core.config.routing import LatencyConfig
from switchyard.routing.load import WINDOW


@dataclass(slots=True)
class Pick:
    """What a strategy may know about the request."""

    prompt_tokens: int = 0
    output_tokens: int = 0
    stream: bool = False


class Balancer:
    """Base: round robin. Subclasses override ``score`` (and ``order`` if not a sort)."""

    name: ClassVar[str] = "round_robin"
    #: True when the strategy reads ``inflight`` of streams (they are tracked to their end).
    streams_inflight: ClassVar[bool] = False

    def __init__(self) -> None:
        self._turn = itertools.count()

    def _rotated(self, deployments: list[Any]) -> list[Any]:
        start = next(self._turn) % len(deployments)
        return deployments[start:] + deployments[:start] if start else list(deployments)

    def order(self, deployments: list[Any], pick: Pick) -> list[Any]:
        rotated = self._rotated(deployments)
        if type(self).scores is Balancer.scores:
            return rotated
        keys = self.scores(rotated, pick, time.monotonic())
        # Sorting indices by a list's __getitem__ keeps the per-item work in C;
        # the sort is stable, so ties keep the rotation.
        return [rotated[i] for i in sorted(range(len(rotated)), key=keys.__getitem__)]

    def scores(self, deployments: list[Any], pick: Pick, now: float) -> list[float]:
        """One score per deployment, lower is better (the base has none)."""
        return []

    def score(self, deployment: Any, pick: Pick, now: float) -> float | None:
        keys = self.scores([deployment], pick, now)
        return keys[0] if keys else None

    def reason(self) -> str:
        return "next in turn"


class WeightedBalancer(Balancer):
    name = "weighted"

    def order(self, deployments: list[Any], pick: Pick) -> list[Any]:
        cumulative = list(accumulate([d.config.weight for d in deployments]))
        total = cumulative[-1]
        if total <= 0:
            return self._rotated(deployments)
        start = bisect(cumulative, random.random() * total)
        start = min(start, len(deployments) - 1)
        return deployments[start:] + deployments[:start]

    def scores(self, deployments: list[Any], pick: Pick, now: float) -> list[float]:
        return [d.config.weight for d in deployments]

    def reason(self) -> str:
        return "weighted random pick (score = weight; higher is picked more often)"


class LeastBusyBalancer(Balancer):
    name = "least_busy"
    streams_inflight = True

    def scores(self, deployments: list[Any], pick: Pick, now: float) -> list[float]:
        return [d.load.inflight for d in deployments]

    def reason(self) -> str:
        return "fewest calls in flight (score = in-flight calls)"


class LatencyBalancer(Balancer):
    name = "latency"

    def __init__(self, settings: LatencyConfig | None = None) -> None:
        super().__init__()
        self.explore = (settings or LatencyConfig()).explore

    def order(self, deployments: list[Any], pick: Pick) -> list[Any]:
        ordered = super().order(deployments, pick)
        if self.explore and len(ordered) > 1 and random.random() < self.explore:
            ordered.insert(0, ordered.pop(random.randrange(1, len(ordered))))
        return ordered

    def scores(self, deployments: list[Any], pick: Pick, now: float) -> list[float]:
        # Never measured scores 0: try it. Streams go by time to first token.
        if pick.stream:
            return [d.load.ttft or d.load.latency or 0.0 for d in deployments]
        return [d.load.latency or d.load.ttft or 0.0 for d in deployments]

    def reason(self) -> str:
        return f"lowest recent latency (score = EWMA seconds; {self.explore:.0%} of picks explore)"


class CostBalancer(Balancer):
    name = "cost"

    def scores(self, deployments: list[Any], pick: Pick, now: float) -> list[float]:
        prompt, output = pick.prompt_tokens / 1_000_000, pick.output_tokens / 1_000_000
        return [prompt * (load := d.load).price_in + output * load.price_out for d in deployments]

    def reason(self) -> str:
        return "cheapest for the estimated tokens (score = US dollars; unpriced last)"


class HeadroomBalancer(Balancer):
    name = "headroom"

    def scores(self, deployments: list[Any], pick: Pick, now: float) -> list[float]:
        # Score: the larger of the shares of RPM and TPM used in the last minute,
        # counting this request (0 for an unlimited deployment).
        need = pick.prompt_tokens + pick.output_tokens
        bucket = int(now // WINDOW)
        overlap = 1.0 - (now - bucket * WINDOW) / WINDOW
        out = []
        append = out.append
        for d in deployments:
            load = d.load
            if load._bucket != bucket:
                load._roll(now)
            by_requests = load.per_request * (load._requests + load._prev_requests * overlap + 1)
            by_tokens = load.per_token * (load._tokens + load._prev_tokens * overlap + need)
            append(by_requests if by_requests > by_tokens else by_tokens)
        return out

    def reason(self) -> str:
        return "most remaining RPM/TPM capacity (score = share of the last minute's capacity used)"


STRATEGIES: dict[str, type[Balancer]] = {
    cls.name: cls
    for cls in (Balancer, WeightedBalancer, LeastBusyBalancer, LatencyBalancer, CostBalancer, HeadroomBalancer)
}


def balancer_for(strategy: str, latency: LatencyConfig | None = None) -> Balancer:
    """A new balancer for one group."""
    if strategy == "latency":
        return LatencyBalancer(latency)
    return STRATEGIES[strategy]()
