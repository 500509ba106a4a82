"""Per-deployment health, as the router sees it.

``DeploymentHealth.available`` is what every balancing strategy consults to
skip a deployment; the reliability layer (breakers, passive and active health
checks) feeds it through ``record_success`` / ``record_failure``.
"""

from __future__ import annotations

from switchyard.core.errors import SwitchyardError


class DeploymentHealth:
    """Always available until a reliability policy says otherwise."""

    __slots__ = ()

    @property
    def available(self) -> bool:
        return True

    def record_success(self, latency: float) -> None:
        """A call to the deployment succeeded after ``latency`` seconds."""

    def record_failure(self, error: SwitchyardError) -> None:
        """A call to the deployment failed with ``error``."""

    def snapshot(self) -> dict[str, object]:
        return {"available": True}
