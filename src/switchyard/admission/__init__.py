"""Admission control: rate and token limits, reservations, priority queue, upstream capacity.

``AdmissionControl.build(config, store, tokens)`` (called by ``Services.start``)
makes, from the ``limits:`` section:

* ``admission`` — the pipeline's ``Admission``: a ``Limiter`` (limiter.py),
  or ``OpenAdmission`` when nothing is configured, which costs nothing;
* ``gate_for`` — the ``CapacityGate`` policy (deployments.py) for a
  deployment with capacity limits, innermost in its chain;
* the backend — by ``limits.algorithm`` and ``limits.backend``: the sliding
  window (the default) or GCRA, in this process or in the shared store
  (``redis:``), which hands out its backend; see ``switchyard.storage.limits``.
  All four answer the same ``acquire`` / ``adjust``, and report their state for
  ``/health/ready``.
"""

from __future__ import annotations

from typing import Any

from switchyard.admission.deployments import CapacityGate, DeploymentGate, deployment_buckets
from switchyard.admission.estimate import Estimator
from switchyard.admission.limiter import Limiter
from switchyard.admission.queue import AdmissionQueue
from switchyard.admission.rules import RuleBook
from switchyard.admission.ticket import Admission, OpenAdmission
from switchyard.admission.waiting import LimitQueue
from switchyard.core.config import Config, DeploymentConfig
from switchyard.core.config.limits import LimitsConfig
from switchyard.storage.limits import LimitStore
from switchyard.storage.limits.gcra import Bucket, Decision, MemoryBackend
from switchyard.storage.limits.sliding import SlidingMemoryBackend

__all__ = [
    "AdmissionControl", "AdmissionQueue", "Bucket", "CapacityGate", "Decision", "DeploymentGate", "LimitQueue", "Limiter",
    "MemoryBackend",
    "RuleBook", "SlidingMemoryBackend",
]


class AdmissionControl:
    """The admission objects of one gateway process, built from the config."""

    def __init__(self, admission: Admission, backend: Any, limits: LimitsConfig | None,
                 estimator: Estimator) -> None:
        self.admission = admission
        self.backend = backend
        self.limits = limits
        self.estimator = estimator
        self.gates: dict[str, DeploymentGate] = {}
        self._rules = RuleBook(limits.rules) if limits is not None else None

    @classmethod
    def build(cls, config: Config, store: Any, tokens: Any, *, keyed: bool = False) -> AdmissionControl:
        """With ``keyed`` (virtual keys are on), there is a limiter even without ``limits:``:
        keys bring limits of their own, counted in the shared store when ``redis:`` is set
        (then deployments' own rpm/tpm are too); nothing is learned from upstream headers."""
        limits = config.limits
        if limits is None and keyed:
            limits = LimitsConfig(backend="redis" if config.redis is not None else "memory", learn_from_headers=False)
        if limits is None:
            return cls(OpenAdmission(), SlidingMemoryBackend(), None, Estimator(tokens, "rough"))
        sliding = limits.algorithm == "sliding_window"
        if limits.backend == "redis":
            if config.redis is None or not isinstance(store, LimitStore):
                raise ValueError("limits.backend: 'redis' needs the top-level `redis:` section (its url)")
            backend: Any = store.limit_backend(limits.algorithm, slots=limits.window_slots,
                                               on_error=limits.on_backend_error,
                                               retry_after=limits.retry_backend_after)
        else:
            backend = SlidingMemoryBackend(slots=limits.window_slots) if sliding else MemoryBackend()
        estimator = Estimator(tokens, limits.estimator, limits.default_max_tokens)
        limiter = Limiter(limits, backend, estimator)
        admission: Admission = limiter if (limiter.rules or limiter.queue is not None or keyed) else OpenAdmission()
        return cls(admission, backend, limits, estimator)

    def gate_for(self, deployment_id: str, config: DeploymentConfig) -> CapacityGate | None:
        """The capacity policy of a deployment with capacity limits (or headers to learn from), else None."""
        buckets = deployment_buckets(deployment_id, config, self._rules)
        learn = self.limits is not None and self.limits.learn_from_headers
        if not buckets and not learn:
            return None
        gate = DeploymentGate(deployment_id, buckets, self.backend, self.estimator, learn)
        self.gates[deployment_id] = gate
        return CapacityGate(gate)

    @property
    def ready(self) -> bool:
        """False when requests are refused because the limits backend is unreachable (fail closed)."""
        return getattr(self.backend, "healthy", True)

    def status(self) -> dict[str, Any]:
        if self.limits is None and not self.gates:
            return {"enabled": False}
        out: dict[str, Any] = {"enabled": True}
        status = getattr(self.admission, "status", None)
        out.update(status() if status is not None else self.backend.status())
        paused = {name: gate.status() for name, gate in self.gates.items() if gate.status()["paused_for"]}
        if paused:
            out["deployments_paused"] = paused
        return out

    async def aclose(self) -> None:
        closing = getattr(self.admission, "aclose", None)
        if closing is not None:
            await closing()
        await self.backend.aclose()
