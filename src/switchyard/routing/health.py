"""Per-deployment health, as the router sees it.

``DeploymentHealth.available`` is what every balancing strategy consults to
skip a deployment. Two sources feed it:

- passive, always (when the reliability layer is installed): every outcome of
  live traffic goes through ``record_success`` / ``record_failure`` into the
  deployment's circuit breaker (``policies/breaker.py``);
- active, when ``reliability.health_checks`` is configured: periodic probes
  (``policies/health_checks.py``) call ``record_probe``; after
  ``unhealthy_after`` failed probes the deployment leaves rotation and returns
  only after ``healthy_after`` successful ones.

A bare ``DeploymentHealth()`` (no breaker) is always available.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import SwitchyardError


class DeploymentHealth:
    """The health of one deployment: its breaker plus the verdict of active probes."""

    __slots__ = ("breaker", "probed_healthy", "successes", "failures", "latency", "last_error",
                 "_probe_streak", "last_probe")

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

    @property
    def available(self) -> bool:
        if not self.probed_healthy:
            return False
        breaker = self.breaker
        return breaker is None or breaker.available

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
        elif not ok and self.probed_healthy and -streak >= unhealthy_after:
            self.probed_healthy = False

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
