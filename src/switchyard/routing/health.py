"""Per-deployment health, as the router sees it.

``DeploymentHealth.available`` is what every balancing strategy consults to
skip a deployment. Two sources feed it:

- passive, always (when the reliability layer is installed): every outcome of
  live traffic goes through ``record_success`` / ``record_failure`` into the
  deployment's circuit breaker (``policies/breaker.py``);
- active, when ``reliability.health_checks`` is configured: periodic probes
  (``tasks/health_probes.py``) call ``record_probe``; after
  ``unhealthy_after`` failed probes the deployment leaves rotation and returns
  only after ``healthy_after`` successful ones.

A bare ``DeploymentHealth()`` (no breaker) is always available.

Routing caches the verdict per group (``routing/availability.py``): ``settled``
says whether the verdict holds until the next event, and every event that can
change it (a probe flipping the verdict, any breaker state change) calls
``changed``, which tells the watchers to ask again.
"""

from __future__ import annotations

import weakref
from typing import Any

from switchyard.core.errors import SwitchyardError


class DeploymentHealth:
    """The health of one deployment: its breaker plus the verdict of active probes."""

    __slots__ = ("breaker", "probed_healthy", "successes", "failures", "latency", "last_error",
                 "_probe_streak", "last_probe", "_watchers")

    def __init__(self, breaker: Any = None) -> None:
        self.breaker = breaker
        self.probed_healthy = True
        self.successes = 0
        self.failures = 0
        #: Exponentially weighted mean latency of successful calls, seconds.
        self.latency: float | None = None
        self.last_error: str | None = None
        self._probe_streak = 0  # > 0: successes in a row; < 0: failures in a row
        self.last_probe: dict[str, Any] | None = None
        #: Availability caches to tell when the verdict may change (weak: plans come and go).
        self._watchers: weakref.WeakSet[Any] | None = None
        if breaker is not None:
            breaker.subscribe(moved=self.changed)

    @property
    def available(self) -> bool:
        if not self.probed_healthy:
            return False
        breaker = self.breaker
        return breaker is None or breaker.available

    def settled(self) -> bool | None:
        """The verdict when it holds until the next ``changed`` (probes agree and the
        breaker is closed, or the probes say down); ``None`` when time or probe slots
        can change it without an event (an open or half-open breaker)."""
        if not self.probed_healthy:
            return False
        breaker = self.breaker
        if breaker is None or breaker.state == "closed":
            return True
        return None

    def watch(self, watcher: Any) -> None:
        """Call ``watcher.invalidate()`` whenever the verdict may have changed."""
        if self._watchers is None:
            self._watchers = weakref.WeakSet()
        self._watchers.add(watcher)

    def changed(self) -> None:
        """The verdict may have changed: watchers ask again on their next decision."""
        if self._watchers:
            for watcher in list(self._watchers):
                watcher.invalidate()

    def record_success(self, latency: float) -> None:
        """A call to the deployment succeeded after ``latency`` seconds."""
        self.successes += 1
        previous = self.latency
        self.latency = latency if previous is None else previous + 0.2 * (latency - previous)
        if self.breaker is not None:
            self.breaker.record_success()

    def record_failure(self, error: SwitchyardError) -> None:
        """A call to the deployment failed with ``error`` (one that says it is unwell)."""
        self.failures += 1
        self.last_error = f"{error.status} {error.message}"[:300]
        if self.breaker is not None:
            self.breaker.record_failure(error)

    def record_probe(self, ok: bool, detail: str, unhealthy_after: int = 1, healthy_after: int = 1) -> None:
        """The result of one active probe."""
        streak = self._probe_streak
        streak = (streak + 1 if streak > 0 else 1) if ok else (streak - 1 if streak < 0 else -1)
        self._probe_streak = streak
        self.last_probe = {"ok": ok, "detail": detail[:300]}
        if ok and not self.probed_healthy and streak >= healthy_after:
            self.probed_healthy = True
            if self.breaker is not None and self.breaker.state != "closed":
                self.breaker.close()  # the probes vouch for it: back in rotation at once
            self.changed()
        elif not ok and self.probed_healthy and -streak >= unhealthy_after:
            self.probed_healthy = False
            self.changed()

    def snapshot(self) -> dict[str, object]:
        out: dict[str, Any] = {"available": self.available, "successes": self.successes, "failures": self.failures}
        if self.latency is not None:
            out["latency_ms"] = round(self.latency * 1000, 2)
        if self.last_error:
            out["last_error"] = self.last_error
        if self.breaker is not None:
            out["breaker"] = self.breaker.snapshot()
        if self.last_probe is not None:
            out["probe"] = {**self.last_probe, "healthy": self.probed_healthy}
        return out
