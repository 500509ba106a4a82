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
rest are the fallbacks) in a new list. ``score`` is what ``order`` sorts by, for
the dry-run: lower is better, ``None`` where the strategy has no score. Ties
rotate, so equal deployments share the traffic.

The router hands ``order`` the same list object while the group's availability
is unchanged (``routing/availability.py``), so per-list work (the loads, the
cumulative weights) is cached on that list's identity; input lists are never
mutated. What is left per decision is one pass over plain floats, a C sort and
a gather: ~3-10 µs for 100 deployments.
"""

from __future__ import annotations

import itertools
import random
import time
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate, chain
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
        self._for: list[Any] | None = None
        self._loads: list[Any] = []

    def _rotated(self, deployments: list[Any]) -> list[Any]:
        start = next(self._turn) % len(deployments)
        return deployments[start:] + deployments[:start] if start else list(deployments)

    def _loads_of(self, deployments: list[Any]) -> list[Any]:
        if deployments is not self._for:
            self._for = deployments
            self._loads = [d.load for d in deployments]
            self._fresh()
        return self._loads

    def _fresh(self) -> None:
        """A new input list: drop whatever was derived from the last one."""

    def order(self, deployments: list[Any], pick: Pick) -> list[Any]:
        if type(self).load_scores is Balancer.load_scores:
            return self._rotated(deployments)
        keys = self.load_scores(self._loads_of(deployments), pick, time.monotonic())
        n = len(deployments)
        start = next(self._turn) % n
        # Sorting indices by a list's __getitem__ keeps the per-item work in C; the
        # sort is stable and the indices come in rotated order, so ties keep the rotation.
        indices = chain(range(start, n), range(start)) if start else range(n)
        return list(map(deployments.__getitem__, sorted(indices, key=keys.__getitem__)))

    def load_scores(self, loads: list[Any], pick: Pick, now: float) -> list[float]:
        """One score per deployment load (``deployment.load``), lower is better (the base has none)."""
        return []

    def scores(self, deployments: list[Any], pick: Pick, now: float) -> list[float]:
        """One score per deployment, lower is better (the base has none)."""
        return self.load_scores([d.load for d in deployments], pick, now)

    def score(self, deployment: Any, pick: Pick, now: float) -> float | None:
        keys = self.scores([deployment], pick, now)
        return keys[0] if keys else None

    def reason(self) -> str:
        return "next in turn"


class WeightedBalancer(Balancer):
    name = "weighted"
    _cumulative: list[float]

    def _fresh(self) -> None:
        self._cumulative = list(accumulate([d.config.weight for d in self._for or ()]))

    def order(self, deployments: list[Any], pick: Pick) -> list[Any]:
        self._loads_of(deployments)
        cumulative = self._cumulative
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

    def load_scores(self, loads: list[Any], pick: Pick, now: float) -> list[float]:
        return [load.inflight for load in loads]

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

    def load_scores(self, loads: list[Any], pick: Pick, now: float) -> list[float]:
        # Never measured scores 0: try it. Streams go by time to first token.
        if pick.stream:
            return [load.ttft or load.latency or 0.0 for load in loads]
        return [load.latency or load.ttft or 0.0 for load in loads]

    def reason(self) -> str:
        return f"lowest recent latency (score = EWMA seconds; {self.explore:.0%} of picks explore)"


class CostBalancer(Balancer):
    name = "cost"

    _quoted: tuple[list[Any], bool] | None = None  # a load list, and whether one of its prices needs a quote

    def load_scores(self, loads: list[Any], pick: Pick, now: float) -> list[float]:
        prompt, output = float(pick.prompt_tokens), float(pick.output_tokens)  # float x float: no int conversion each
        quoted = self._quoted
        if quoted is None or quoted[0] is not loads:
            quoted = self._quoted = (loads, any(load.sheet is not None for load in loads))
        if not quoted[1]:  # flat prices (the usual): one multiply-add each
            return [prompt * load.price_in + output * load.price_out for load in loads]
        return [load.quote(pick.prompt_tokens, pick.output_tokens) for load in loads]

    def reason(self) -> str:
        return "cheapest for the estimated tokens (score = US dollars; unpriced last)"


class HeadroomBalancer(Balancer):
    name = "headroom"
    _rolled = -1  # the minute the cached list's loads were last rolled to

    def _fresh(self) -> None:
        self._rolled = -1

    def load_scores(self, loads: list[Any], pick: Pick, now: float) -> list[float]:
        # Score: the larger of the shares of RPM and TPM used in the last minute,
        # counting this request (0 for an unlimited deployment).
        need = float(pick.prompt_tokens + pick.output_tokens)
        bucket = int(now // WINDOW)
        overlap = 1.0 - (now - bucket * WINDOW) / WINDOW
        if loads is not self._loads or bucket != self._rolled:
            # Each load rolls itself when counted; one not counted this minute yet
            # is rolled here, once per minute (or per new list) rather than per decision.
            for load in loads:
                if load._bucket != bucket:
                    load._roll(now)
            if loads is self._loads:
                self._rolled = bucket
        return [
            by_requests if (by_requests := load.share_next + load.share_prev * overlap)
            > (by_tokens := load.token_share + load.token_share_prev * overlap + load.per_token * need) else by_tokens
            for load in loads
        ]

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
