"""Rate-limit counters: the algorithms behind ``limits:``, in memory and in Redis.

A limit backend reserves ``costs[i]`` in every ``Bucket`` of a request at once
(all or nothing) and later corrects the reservation with the real usage — the
"reserve, then settle" contract of the store's counters, with one algorithm per
module:

* ``sliding.py`` / ``sliding_redis.py`` — the sliding window (the default);
* ``gcra.py`` / ``gcra_redis.py`` — GCRA, plus the shared ``Bucket`` and ``Decision``.

Stores that can keep these counters (memory, Redis) implement ``LimitStore``
and hand the backends out, so the Redis connection and key prefix come from the
store; the admission layer never builds a Redis backend itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from switchyard.storage.limits.gcra import Bucket, Decision

__all__ = ["Bucket", "Decision", "LimitBackend", "LimitStore"]


class LimitBackend(Protocol):
    """What every limit backend answers (all four share it)."""

    name: str
    algorithm: str

    async def acquire(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> Decision:
        """Reserve ``costs[i]`` in every bucket ``i``, or nothing anywhere."""
        ...

    async def room_after(self, buckets: Sequence[Bucket], costs: Sequence[float]) -> float | None:
        """Seconds until ``costs`` would fit (0: now, ``inf``: never, None: cannot say); reserves nothing."""
        ...

    async def adjust(self, buckets: Sequence[Bucket], deltas: Sequence[float], ref: float | None = None) -> None:
        """Correct a reservation by ``deltas`` (a refund when negative)."""
        ...

    def status(self) -> dict[str, object]:
        """The backend's state for ``/health/ready``."""
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (the store owns the connection)."""
        ...


@runtime_checkable
class LimitStore(Protocol):
    """An optional ability of a store: it keeps rate-limit counters (memory, Redis)."""

    def limit_backend(self, algorithm: str, *, slots: int, on_error: str = "open",
                      retry_after: float = 1.0) -> LimitBackend:
        """A backend for ``algorithm`` (``sliding_window`` or ``gcra``) over this store's state.

        ``on_error`` (``open``/``closed``) and ``retry_after`` say what a shared
        backend does while its server is unreachable; in-process backends ignore them.
        """
        ...
