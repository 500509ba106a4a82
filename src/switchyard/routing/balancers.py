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
import math
import random
import time
from bisect import bisect
from dataclasses import dataclass
from typing import Any, ClassVar

from switchyard.core.config.routing import LatencyConfig


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
        if type(self).score is Balancer.score:
            return rotated
        now = time.monotonic()
        rotated.sort(key=lambda d: self.score(d, pick, now))  # stable: ties keep the rotation
        return rotated

    def score(self, deployment: Any, pick: Pick, now: float) -> float | None:
        return None

    def reason(self) -> str:
        return "next in turn"


class WeightedBalancer(Balancer):
    name = "weighted"

    def order(self, deployments: list[Any], pick: Pick) -> list[Any]:
        total = 0.0
        cumulative = []
        for deployment in deployments:
            total += deployment.config.weight
            cumulative.append(total)
        if total <= 0:
            return self._rotated(deployments)
        start = bisect(cumulative, random.random() * total)
        start = min(start, len(deployments) - 1)
        return deployments[start:] + deployments[:start]

    def score(self, deployment: Any, pick: Pick, now: float) -> float | None:
        return deployment.config.weight

    def reason(self) -> str:
        return "weighted random pick (score = weight; higher is picked more often)"


class LeastBusyBalancer(Balancer):
    name = "least_busy"
    streams_inflight = True

    def score(self, deployment: Any, pick: Pick, now: float) -> float:
        return deployment.load.inflight

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

    def score(self, deployment: Any, pick: Pick, now: float) -> float:
        load = deployment.load
        first, second = (load.ttft, load.latency) if pick.stream else (load.latency, load.ttft)
        value = first if first is not None else second
        return 0.0 if value is None else value  # never measured: try it

    def reason(self) -> str:
        return f"lowest recent latency (score = EWMA seconds; {self.explore:.0%} of picks explore)"


class CostBalancer(Balancer):
    name = "cost"

    def score(self, deployment: Any, pick: Pick, now: float) -> float:
        price = deployment.config.price
        if price is None:
            return math.inf
        return (pick.prompt_tokens * price.input + pick.output_tokens * price.output) / 1_000_000

    def reason(self) -> str:
        return "cheapest for the estimated tokens (score = US dollars; unpriced last)"


class HeadroomBalancer(Balancer):
    name = "headroom"

    def score(self, deployment: Any, pick: Pick, now: float) -> float:
        config = deployment.config
        if config.rpm is None and config.tpm is None:
            return -1.0
        requests, tokens = deployment.load.rates(now)
        room = 1.0
        if config.rpm is not None:
            room = min(room, (config.rpm - requests - 1) / config.rpm)
        if config.tpm is not None:
            room = min(room, (config.tpm - tokens - pick.prompt_tokens - pick.output_tokens) / config.tpm)
        return -room

    def reason(self) -> str:
        return "most remaining RPM/TPM capacity (score = -share left of the last minute's capacity)"


STRATEGIES: dict[str, type[Balancer]] = {
    cls.name: cls
    for cls in (Balancer, WeightedBalancer, LeastBusyBalancer, LatencyBalancer, CostBalancer, HeadroomBalancer)
}


def balancer_for(strategy: str, latency: LatencyConfig | None = None) -> Balancer:
    """A new balancer for one group."""
    if strategy == "latency":
        return LatencyBalancer(latency)
    return STRATEGIES[strategy]()
