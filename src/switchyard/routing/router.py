"""Choosing which deployments of a group serve a request, in order of preference."""

from __future__ import annotations

import itertools
from typing import Any

from switchyard.core.call import Call
from switchyard.routing.catalog import Deployment, ModelGroup
from switchyard.routing.regions import order_by_region


class Router:
    """Round robin over a group's deployments; the rest follow as fallbacks."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}

    def candidates(self, group: ModelGroup, request: Any, call: Call) -> list[Deployment]:
        """Deployments to try, best first: available ones in balancing order,
        then by region preference; unavailable ones only when nothing else is left."""
        deployments = group.deployments
        if len(deployments) > 1:
            counter = self._counters.setdefault(group.alias, itertools.count())
            start = next(counter) % len(deployments)
            deployments = deployments[start:] + deployments[:start]
        available = [d for d in deployments if d.health.available]
        ordered = order_by_region(available, call)
        return ordered or deployments
