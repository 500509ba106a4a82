"""Which deployments of a group are available, without asking all of them on
every request.

Asking ``deployment.health.available`` of 100 deployments costs ~10 µs, and
almost always gives the answer it gave last time. ``Availability`` keeps the
answer and asks again only when something may have changed:

- a ``DeploymentHealth`` whose verdict holds until its next event (probes
  agree, breaker closed — or probes say down) is *settled*: it is asked once,
  and tells the ``Availability`` objects watching it when its probes or its
  breaker change state (``DeploymentHealth.changed``);
- replacing a deployment's ``health`` object tells the old one's watchers too
  (``Deployment.__setattr__``);
- everything else is *unsettled* and asked on every request: a breaker that is
  open (it becomes available when its time is up, with no event) or half-open
  (limited probe slots), and any health object that cannot be watched.

So with every breaker closed a decision costs O(1); with k unsettled
deployments, k property reads. ``current()`` returns the same list object while
the answer is unchanged (callers must not mutate it), so balancers can key
their own caches on its identity.
"""

from __future__ import annotations

from typing import Any


class Availability:
    """The available deployments of one group, in group order."""

    __slots__ = ("deployments", "stale", "_settled", "_unsettled", "_verdicts", "_available", "__weakref__")

    def __init__(self, deployments: list[Any]) -> None:
        self.deployments = deployments
        #: Set by a watched health when its verdict may have changed.
        self.stale = True
        #: Per deployment: True/False when settled, None when asked every time.
        self._settled: list[bool | None] = []
        self._unsettled: list[Any] = []
        self._verdicts: list[bool] = []
        self._available: list[Any] = []

    def invalidate(self) -> None:
        self.stale = True

    def current(self) -> list[Any]:
        """The available deployments (possibly empty). Do not mutate the list."""
        if self.stale:
            self._settle()
        elif self._unsettled:
            verdicts = [d.health.available for d in self._unsettled]
            if verdicts != self._verdicts:
                self._verdicts = verdicts
                self._merge()
        return self._available

    def _settle(self) -> None:
        # Clear first: a change signalled while we look is seen next time.
        self.stale = False
        settled: list[bool | None] = []
        unsettled = []
        for deployment in self.deployments:
            health = deployment.health
            watch = getattr(health, "watch", None)
            verdict = None
            if watch is not None:
                watch(self)
                verdict = health.settled()
            settled.append(verdict)
            if verdict is None:
                unsettled.append(deployment)
        self._settled = settled
        self._unsettled = unsettled
        self._verdicts = [d.health.available for d in unsettled]
        self._merge()

    def _merge(self) -> None:
        verdicts = iter(self._verdicts)
        self._available = [
            d for d, settled in zip(self.deployments, self._settled)
            if (next(verdicts) if settled is None else settled)
        ]
