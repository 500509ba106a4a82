"""Admission control: rate and token limits, reservations, priority queue, upstream capacity.

``AdmissionControl.build(config, redis, tokens)`` (called by ``Services.start``)
makes, from the ``limits:`` section:

* ``admission`` — the pipeline's ``Admission``: a ``Limiter`` (limiter.py),
  or ``OpenAdmission`` when nothing is configured, which costs nothing;
* ``wrap`` — the ``Catalog`` hook that puts a ``DeploymentGate``
  (deployments.py) in front of every deployment with capacity limits;
* the backend — by ``limits.algorithm`` and ``limits.backend``: the sliding
  window (the default; ``SlidingMemoryBackend`` in sliding.py,
  ``SlidingRedisBackend`` in sliding_redis.py) or GCRA (``MemoryBackend`` in
  gcra.py, ``RedisBackend`` in redis_backend.py), and its state for
  ``/health/ready``. All four answer the same ``acquire`` / ``adjust``.
"""

from __future__ import annotations

from typing import Any

from switchyard.admission.deployments import DeploymentGate, deployment_buckets, gated
from switchyard.admission.estimate import Estimator
from switchyard.admission.gcra import Bucket, Decision, MemoryBackend
from switchyard.admission.limiter import Limiter
from switchyard.admission.queue import AdmissionQueue
from switchyard.admission.waiting import LimitQueue
from switchyard.admission.rules import RuleBook
from switchyard.admission.sliding import SlidingMemoryBackend
from switchyard.core.config import Config
from switchyard.core.config.limits import LimitsConfig
from switchyard.gateway.admission import Admission, OpenAdmission

__all__ = [
    "AdmissionControl", "AdmissionQueue", "Bucket", "Decision", "DeploymentGate", "LimitQueue", "Limiter",
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
    def build(cls, config: Config, redis: Any, tokens: Any) -> AdmissionControl:
        limits = config.limits
        if limits is None:
            return cls(OpenAdmission(), SlidingMemoryBackend(), None, Estimator(tokens, "rough"))
        sliding = limits.algorithm == "sliding_window"
        if limits.backend == "redis":
            if redis is None or config.redis is None:
                raise ValueError("limits.backend: 'redis' needs the top-level `redis:` section (its url)")
            from switchyard.admission.redis_backend import RedisBackend
            from switchyard.admission.sliding_redis import SlidingRedisBackend

            args = (redis, config.redis.prefix, limits.on_backend_error, limits.retry_backend_after)
            backend: Any = SlidingRedisBackend(*args, slots=limits.window_slots) if sliding else RedisBackend(*args)
        else:
            backend = SlidingMemoryBackend(slots=limits.window_slots) if sliding else MemoryBackend()
        estimator = Estimator(tokens, limits.estimator, limits.default_max_tokens)
        limiter = Limiter(limits, backend, estimator)
        admission: Admission = limiter if (limiter.rules or limiter.queue is not None) else OpenAdmission()
        return cls(admission, backend, limits, estimator)

    def wrap(self, deployment: Any) -> None:
        """``Catalog`` hook: gate the deployment when it has capacity limits (or headers to learn from)."""
        buckets = deployment_buckets(deployment, self._rules)
        learn = self.limits is not None and self.limits.learn_from_headers
        if not buckets and not learn:
            return
        gate = DeploymentGate(deployment.id, buckets, self.backend, self.estimator, learn)
        self.gates[deployment.id] = gate
        deployment.provider = gated(deployment.provider, gate)

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
