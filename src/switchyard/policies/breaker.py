"""Circuit breakers: one per deployment, and the policy that consults it.

States::

    closed --(N consecutive failures, or error rate >= R over the rolling
              window with at least M calls)--> open
    open   --(open_for seconds elapsed)--> half-open
    half-open --(probe calls, at most P at once, all succeed)--> closed
    half-open --(a probe fails)--> open

Only failures that say something about the deployment count (errors marked
``retryable``: timeouts, connection errors, 429, 5xx); a 4xx answer is the
upstream working. The breaker lives in memory; ``subscribe`` lets a shared
store (``tasks/breaker_sync.py``) publish and adopt transitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config.reliability import BreakerConfig
from switchyard.core.errors import CircuitOpen, SwitchyardError, UpstreamAuthError
from switchyard.core.stage import Streaming, Unary

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

log = logging.getLogger("switchyard.reliability")
_BUCKETS = 10


class CircuitBreaker:
    """The state machine of one deployment's breaker. ``clock`` is wall time
    (seconds) so an ``open_until`` instant can be shared between replicas."""

    def __init__(self, name: str, settings: BreakerConfig, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock
        self.state = CLOSED
        self.open_until = 0.0
        #: Generation of the shared record this state came from (see tasks/breaker_sync.py).
        self.shared_generation = 0
        #: Told after every state change (``DeploymentHealth``: routing caches availability).
        self._on_move: list[Callable[[], None]] = []
        #: Told after a trip or close decided here (a shared store publishes it).
        self._on_change: list[Callable[[CircuitBreaker], None]] = []
        self.last_failure: str | None = None
        self.times_opened = 0
        self._consecutive = 0
        self._probes = 0
        self._probe_successes = 0
        self._span = settings.window / _BUCKETS
        self._stamps = [-1] * _BUCKETS
        self._totals = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS

    @property
    def available(self) -> bool:
        """Whether routing should consider this deployment now."""
        state = self.state
        if state is CLOSED:
            return True
        if state is OPEN:
            return self.clock() >= self.open_until
        return self._probes < self.settings.half_open_probes

    def acquire(self) -> bool:
        """Take permission for one call: always when closed; one of the limited
        probe slots when half-open; never while open."""
        state = self.state
        if state is CLOSED:
            return True
        if state is OPEN:
            if self.clock() < self.open_until:
                return False
            self.state = HALF_OPEN
            self._probes = 0
            self._probe_successes = 0
        if self._probes >= self.settings.half_open_probes:
            return False
        self._probes += 1
        return True

    def release(self) -> None:
        """A call that took a probe slot ended without an outcome (cancelled)."""
        if self.state is HALF_OPEN and self._probes > 0:
            self._probes -= 1

    def record_success(self) -> None:
        self._consecutive = 0
        if self.state is CLOSED:
            self._count(False)
        elif self.state is HALF_OPEN:
            self._probe_successes += 1
            if self._probe_successes >= self.settings.half_open_probes:
                self.close()

    def record_failure(self, error: BaseException | None = None) -> None:
        if error is not None:
            self.last_failure = f"{type(error).__name__}: {getattr(error, 'message', error)}"[:300]
        state = self.state
        if state is HALF_OPEN:
            self.trip()
            return
        if state is OPEN:
            return
        self._consecutive += 1
        total, failed = self._count(True)
        s = self.settings
        if self._consecutive >= s.consecutive_failures or (total >= s.min_requests and failed >= s.error_rate * total):
            self.trip()

    def trip(self, until: float | None = None) -> None:
        """Open the breaker (until ``until``, default now + ``open_for``)."""
        self.state = OPEN
        self.open_until = until if until is not None else self.clock() + self.settings.open_for
        self.times_opened += 1
        self._reset_counts()
        self._moved()
        for listener in self._on_change:
            listener(self)

    def close(self) -> None:
        self.state = CLOSED
        self._reset_counts()
        self._moved()
        for listener in self._on_change:
            listener(self)

    def adopt(self, state: str, open_until: float, generation: int) -> None:
        """Take a state decided elsewhere (another replica) without re-publishing it."""
        self.shared_generation = generation
        if state == OPEN and (self.state is not OPEN or self.open_until != open_until):
            self.state = OPEN
            self.open_until = open_until
            self._reset_counts()
        elif state == CLOSED and self.state is not CLOSED:
            self.state = CLOSED
            self._reset_counts()
        else:
            return
        self._moved()

    def subscribe(self, *, moved: Callable[[], None] | None = None,
                  changed: Callable[[CircuitBreaker], None] | None = None) -> None:
        """Listen to state changes: ``moved()`` after any, ``changed(breaker)`` after
        a trip or close decided here (not one adopted from another replica)."""
        if moved is not None:
            self._on_move.append(moved)
        if changed is not None:
            self._on_change.append(changed)

    def _moved(self) -> None:
        for listener in self._on_move:
            listener()

    def _reset_counts(self) -> None:
        self._consecutive = 0
        self._probes = 0
        self._probe_successes = 0
        self._stamps = [-1] * _BUCKETS
        self._totals = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS

    def _count(self, failed: bool) -> tuple[int, int]:
        """Count one outcome; returns (calls, failures) over the window when ``failed``."""
        tick = int(self.clock() / self._span)
        slot = tick % _BUCKETS
        if self._stamps[slot] != tick:
            self._stamps[slot] = tick
            self._totals[slot] = 0
            self._failures[slot] = 0
        self._totals[slot] += 1
        if not failed:
            return 0, 0
        self._failures[slot] += 1
        oldest = tick - _BUCKETS + 1
        total = failures = 0
        for i in range(_BUCKETS):
            if self._stamps[i] >= oldest:
                total += self._totals[i]
                failures += self._failures[i]
        return total, failures

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        if state is OPEN and self.clock() >= self.open_until:
            state = "half_open_ready"
        out: dict[str, Any] = {"state": state, "consecutive_failures": self._consecutive, "times_opened": self.times_opened}
        if self.state is OPEN:
            out["open_for_seconds"] = round(max(0.0, self.open_until - self.clock()), 3)
        if self.last_failure:
            out["last_failure"] = self.last_failure
        return out


class BreakerPolicy:
    """Refuses calls while the deployment's breaker is open (``CircuitOpen``,
    which lets a fallback take over) and records every outcome in its health."""

    def __init__(self, deployment_id: str, health: Any) -> None:
        self.deployment_id = deployment_id
        self.health = health
        self.breaker: CircuitBreaker = health.breaker

    def _refuse(self) -> CircuitOpen:
        return CircuitOpen(f"Deployment {self.deployment_id} is unavailable: its circuit breaker is open.")

    async def unary(self, call: Call, next: Unary) -> Any:
        if not self.breaker.acquire():
            raise self._refuse()
        health = self.health
        start = time.perf_counter()
        try:
            result = await next(call)
        except SwitchyardError as exc:
            if exc.local:  # the gateway's own limit: no outcome for the deployment
                self.breaker.release()
                raise
            if is_deployment_fault(exc):
                before = self.breaker.state
                health.record_failure(exc)
                if self.breaker.state is not before:
                    log.warning("breaker", extra={"request_id": call.request_id, "deployment": self.deployment_id,
                                                  "from_state": before, "state": self.breaker.state,
                                                  "code": exc.code})
            else:
                health.record_success(time.perf_counter() - start)
            raise
        except BaseException:
            self.breaker.release()
            raise
        health.record_success(time.perf_counter() - start)
        return result

    async def stream(self, call: Call, next: Streaming) -> Any:
        # Up to the first chunk; a failure after it reaches the deployment's health from
        # the route stage, which watches every served stream anyway (one wrapper per chunk).
        return await self.unary(call, next)


def is_deployment_fault(exc: SwitchyardError) -> bool:
    """Whether an error says the deployment itself is unwell: overloaded, down, slow,
    or holding credentials its upstream refuses (a client's 4xx says nothing of it)."""
    return exc.retryable or isinstance(exc, UpstreamAuthError)
