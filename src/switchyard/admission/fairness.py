"""Who goes next among waiting requests: priority classes, a minimum share, fair tenants.

``FairOrder`` holds waiters and names the next one; both kinds of waiting use
it — for a slot under the concurrency cap (queue.py) and for a rate limit to
refill (waiting.py). The order:

* **classes**: the highest class with waiters goes first — except that every
  waiting class earns ``min_share`` of a turn per dispatch it is passed over,
  and a class holding a whole turn takes it. A class that keeps waiting thus
  gets at least ``min_share`` of the dispatches, spread evenly, so the lowest
  never starves outright and the highest is delayed by one dispatch at most
  now and then.
* **tenants within a class**: start-time weighted fair queuing. Each flow
  (tenant, else key) carries a virtual tag; the waiter whose flow has the
  smallest tag goes next and its flow's tag advances by ``1 / weight``. A flow
  that was idle starts at the class's current virtual time, so idling earns no
  credit.

``peek`` names the next waiter without changing anything (the caller may find
it cannot be served yet); ``take`` dispatches a waiter and does the accounting;
``remove`` drops one that left (expired, disconnected) without accounting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

#: Idle flows are forgotten beyond this many per class (flows are per tenant or key).
_MAX_FLOWS = 4096


class Waiter:
    """One waiting request: a future to resolve, its class and flow."""

    __slots__ = ("future", "klass", "flow", "queued")

    def __init__(self, future: asyncio.Future[Any], klass: int) -> None:
        self.future = future
        self.klass = klass
        self.flow: _Flow | None = None
        self.queued = False


class _Flow:
    __slots__ = ("name", "weight", "tag", "waiters")

    def __init__(self, name: str, weight: float) -> None:
        self.name = name
        self.weight = weight
        self.tag = 0.0
        self.waiters: deque[Waiter] = deque()


class _Class:
    __slots__ = ("flows", "active", "vtime", "size", "credit")

    def __init__(self) -> None:
        self.flows: dict[str, _Flow] = {}
        self.active: list[_Flow] = []  # flows with waiters
        self.vtime = 0.0
        self.size = 0
        self.credit = 0.0


class FairOrder:
    """Waiters in priority / minimum-share / weighted-fair order (see the module docstring)."""

    def __init__(self, classes: int, min_share: float, weights: dict[str, float] | None = None) -> None:
        self.min_share = min_share
        self.weights = weights or {}
        self.size = 0
        self._classes = [_Class() for _ in range(classes)]

    def __len__(self) -> int:
        return self.size

    def sizes(self) -> list[int]:
        return [c.size for c in self._classes]

    def push(self, waiter: Waiter, flow_name: str) -> None:
        cls = self._classes[waiter.klass]
        flow = cls.flows.get(flow_name)
        if flow is None:
            flow = cls.flows[flow_name] = _Flow(flow_name, self.weights.get(flow_name, 1.0))
        if not flow.waiters:
            flow.tag = max(flow.tag, cls.vtime)
            cls.active.append(flow)
        flow.waiters.append(waiter)
        waiter.flow = flow
        waiter.queued = True
        cls.size += 1
        self.size += 1

    def remove(self, waiter: Waiter) -> None:
        """Drop ``waiter`` (no-op when it is not queued)."""
        if not waiter.queued:
            return
        waiter.queued = False
        cls = self._classes[waiter.klass]
        flow = waiter.flow
        assert flow is not None
        flow.waiters.remove(waiter)
        if not flow.waiters:
            cls.active.remove(flow)
            if len(cls.flows) > _MAX_FLOWS:
                cls.flows.pop(flow.name, None)
        cls.size -= 1
        if not cls.size:
            cls.credit = 0.0
        self.size -= 1

    def _choose(self) -> tuple[int, list[int]]:
        classes = self._classes
        waiting = [i for i, c in enumerate(classes) if c.size]
        chosen = waiting[0]
        if self.min_share and len(waiting) > 1:
            starved = max(waiting[1:], key=lambda i: classes[i].credit)
            if classes[starved].credit + self.min_share >= 1.0:
                chosen = starved
        return chosen, waiting

    def peek(self) -> Waiter | None:
        """The waiter that goes next, unchanged; None when nobody waits."""
        if not self.size:
            return None
        chosen, _ = self._choose()
        flow = min(self._classes[chosen].active, key=lambda f: f.tag)
        return flow.waiters[0]

    def take(self, waiter: Waiter) -> None:
        """Dispatch ``waiter`` (normally ``peek()``'s answer): remove it and charge its class and flow."""
        classes = self._classes
        if self.min_share:
            waiting = [i for i, c in enumerate(classes) if c.size]
            if len(waiting) > 1:
                for i in waiting[1:]:
                    classes[i].credit += self.min_share
                if waiter.klass != waiting[0]:
                    classes[waiter.klass].credit -= 1.0
        cls = classes[waiter.klass]
        flow = waiter.flow
        assert flow is not None
        cls.vtime = flow.tag
        flow.tag += 1.0 / flow.weight
        self.remove(waiter)

    def pop(self) -> Waiter:
        """Dispatch and return the next waiter (there must be one)."""
        waiter = self.peek()
        assert waiter is not None
        self.take(waiter)
        return waiter
