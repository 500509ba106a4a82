"""Choosing which deployments of a group serve a request, in order of preference."""

from __future__ import annotations

import itertools
from typing import Any

from switchyard.core.call import Call
from switchyard.routing.catalog import Deployment, ModelGroup


class Router:
    """Round robin over a group's deployments; the rest follow as fallbacks."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}

    def candidates(self, group: ModelGroup, request: Any, call: Call) -> list[Deployment]:
        deployments = group.deployments
        if len(deployments) == 1:
            return deployments
        counter = self._counters.setdefault(group.alias, itertools.count())
        start = next(counter) % len(deployments)
        return deployments[start:] + deployments[:start]
