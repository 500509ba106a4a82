"""GCRA, the generic cell rate algorithm: the limit arithmetic every backend shares.

Why GCRA and not a fixed or sliding window: a limit of ``N`` per ``period``
is a bucket of ``N`` that refills continuously, one unit every
``period / N`` — the semantics OpenAI documents for its own
``x-ratelimit-*`` headers. There is no window edge at which ``2N`` can pass in
an instant (a fixed window's flaw): at most ``N`` pass at once, then one per
interval, so any span of ``W`` seconds admits at most ``N + N·W/period``.
The state is one number per bucket (the *theoretical arrival time*, TAT),
which makes it a one-key atomic update in Redis, and makes reservations exact:
a reservation pushes the TAT forward by ``cost·interval``, a refund pulls it
back (never before now, so a refund cannot build up credit beyond ``N``).

Times here are seconds on whatever clock the backend uses (monotonic in
memory, the Redis server's clock in Redis, so replicas never disagree).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Kind of a bucket -> (period in seconds, what it counts).
KINDS = {"rpm": (60.0, "requests"), "tpm": (60.0, "tokens"), "tpd": (86400.0, "tokens")}


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit on one subject: ``limit`` units per ``period`` seconds."""

    key: str
    scope: str
    subject: str
    kind: str  # rpm | tpm | tpd
    limit: int
    period: float
    hard: bool = True

    @property
    def counts(self) -> str:
        return KINDS[self.kind][1]

    @property
    def interval(self) -> float:
        return self.period / self.limit

    def describe(self) -> str:
        subject = "" if self.scope == "global" else f" {self.subject!r}"
        return f"{self.scope}{subject} {self.kind} limit of {self.limit}"


@dataclass(slots=True)
class Decision:
    """What a backend answered: admitted or not, and each bucket's fill afterwards.

    ``fills[i]`` is how many seconds bucket ``i`` needs to be whole again
    (OpenAI's *reset*); ``refused`` is the index of the first bucket that said
    no, and ``retry_after`` when it will say yes (``inf``: never, the cost is
    above the limit). ``degraded`` marks an answer made without the backend.
    ``left`` (sliding window) is each bucket's room left outright, where GCRA
    derives it from the fill; ``ref`` names the reservation for a later
    ``adjust`` (sliding window: when it was made; GCRA needs none).
    """

    allowed: bool
    fills: list[float]
    refused: int = -1
    retry_after: float = 0.0
    degraded: bool = False
    left: list[float] | None = None
    ref: float | None = None

    def remaining(self, bucket: Bucket, index: int) -> int:
        left = self.left
        if left is not None:
            return max(0, int(left[index] + 1e-9)) if index < len(left) else bucket.limit
        fill = self.fills[index] if index < len(self.fills) else 0.0
        return max(0, int(bucket.limit - fill / bucket.interval + 1e-9))


ALLOWED_BLIND = Decision(True, [], degraded=True)


def acquire(tats: list[float | None], buckets: Sequence[Bucket], costs: Sequence[float], now: float) -> tuple[Decision, list[float]]:
    """All-or-nothing reservation of ``costs[i]`` in every bucket.

    Returns the decision and the new TATs (unchanged when refused).
    """
    new: list[float] = []
    fills: list[float] = []
    refused = -1
    wait = 0.0
    for i, bucket in enumerate(buckets):
        tat = tats[i]
        if tat is None or tat < now:
            tat = now
        cost = costs[i]
        after = tat + cost * bucket.interval
        over = float("inf") if cost > bucket.limit else after - now - bucket.period
        if over > 1e-9:
            if over > wait:  # the bucket that binds longest is the one to name
                refused, wait = i, over
            new.append(tat)
            fills.append(tat - now)
        else:
            new.append(after)
            fills.append(after - now)
    if refused >= 0:
        return Decision(False, fills, refused, wait), new
    return Decision(True, fills), new


def adjust(tat: float | None, bucket: Bucket, delta: float, now: float) -> float:
    """The TAT after charging ``delta`` more units (a refund when negative)."""
    base = now if tat is None or tat < now else tat
    return max(now, base + delta * bucket.interval)


class MemoryBackend:
    """GCRA buckets in this process (the embedded default). Bounded: idle full buckets are swept."""

    name = "memory"
    algorithm = "gcra"

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 200_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tats: dict[str, float] = {}

    async def acquire(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> Decision:
        return self.acquire_now(buckets, costs)

    def acquire_now(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> Decision:
        now = self.clock()
        tats = self._tats
        decision, new = acquire([tats.get(b.key) for b in buckets], buckets, costs, now)
        if decision.allowed:
            if len(tats) >= self.max_keys:
                self._sweep(now)
            for bucket, tat in zip(buckets, new):
                tats[bucket.key] = tat
        return decision

    async def room_after(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> float | None:
        """Seconds until ``costs`` fit in every bucket (0: now, ``inf``: never); reserves nothing."""
        decision, _ = acquire([self._tats.get(b.key) for b in buckets], buckets, costs, self.clock())
        return 0.0 if decision.allowed else decision.retry_after

    async def adjust(self, buckets: Sequence[Bucket], deltas: Sequence[float], ref: float | None = None) -> None:
        """Charge ``deltas`` more (refund when negative); GCRA needs no ``ref``."""
        now = self.clock()
        tats = self._tats
        for bucket, delta in zip(buckets, deltas):
            if delta:
                tats[bucket.key] = adjust(tats.get(bucket.key), bucket, delta, now)

    def _sweep(self, now: float) -> None:
        # A bucket whose TAT has passed is whole again: forgetting it changes nothing.
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]

    def status(self) -> dict[str, object]:
        return {"backend": "memory", "algorithm": "gcra", "state": "ok", "buckets": len(self._tats)}

    async def aclose(self) -> None:
        return None
