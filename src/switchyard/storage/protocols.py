"""The narrow protocols of the storage layer, and the ``Store`` that bundles them.

Each protocol is one job, answered by every backend (memory, SQLite,
Redis, PostgreSQL); ``tests/storage/test_conformance.py`` holds them all to the
same contract over real servers.

* ``Counters`` — atomic *reserve, then settle* against a limit in a rolling
  window: rate limits, budgets, quotas.
* ``KeyValue`` — bytes under string keys with an optional TTL: sticky
  sessions, shared breaker records, caches.
* ``PubSub`` — fire-and-forget messages on named channels: invalidation
  (config, keys, breakers). Delivery is to whoever is subscribed *now*; each
  subscription buffers at most ``buffer`` messages and drops the oldest beyond
  that (``Subscription.dropped`` counts them).
* ``Records`` — append-only streams read back in order with a cursor: audit,
  spend, event logs.
* ``WorkQueue`` — at-least-once jobs with leases: a claimed job that is
  neither acked nor nacked before its lease ends is delivered again.

Keys, channels, streams and queue names are plain strings; the store applies
its one key prefix (``redis.prefix``) to all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, runtime_checkable

import msgspec


class StoreUnavailable(ConnectionError):
    """The store's server cannot be reached (or is backing off after it could not be)."""


class Reservation(msgspec.Struct, frozen=True, gc=False):
    """Units reserved against a limit; settle or refund it exactly once. (A frozen struct:
    one is made per budgeted request, and a frozen dataclass costs microseconds to build.)"""

    key: str
    amount: float
    limit: float
    window: float
    #: Names the reservation in the backend (when it was made, on the backend's clock).
    ref: float
    #: Room left in the window after this reservation.
    left: float
    granted: Literal[True] = True


class Refusal(msgspec.Struct, frozen=True, gc=False):
    """No room: ``retry_after`` seconds until ``amount`` would fit (``inf``: never, it exceeds the limit)."""

    key: str
    amount: float
    retry_after: float
    left: float
    granted: Literal[False] = False


class Counters(Protocol):
    """Atomic counters: at most ``limit`` units in any rolling ``window`` seconds per key.

    A reservation is exact and atomic across every client of the store: of
    fifty concurrent reserves of 1 against a limit of 10, exactly ten succeed.
    Units leave the window at most one slot (``window / 1000``) late, never early.
    """

    async def reserve(self, key: str, amount: float, limit: float, window: float) -> Reservation | Refusal:
        """Reserve ``amount`` units in ``key``'s window if they fit, else say when they would."""
        ...

    async def settle(self, reservation: Reservation, actual: float) -> None:
        """Correct the reservation to the ``actual`` units used (less refunds, more charges)."""
        ...

    async def refund(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the call never happened)."""
        ...


class KeyValue(Protocol):
    """Bytes under string keys; ``ttl`` in seconds (None: no expiry)."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Write ``value`` (replacing any), expiring after ``ttl`` seconds."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Write ``value`` only when ``key`` is absent (or expired); True when written."""
        ...

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None) -> bool:
        """Compare-and-set: write ``value`` only if the current value is ``expected`` (None: absent)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        ...


class Subscription(Protocol):
    """Messages of one channel, in order, from when the subscription was entered.

    Use as ``async with pubsub.subscribe(channel) as sub: async for message in sub``;
    the subscription is live once ``__aenter__`` returns. The iteration ends when
    the subscription is closed or its connection is lost: subscribe again to resume.
    """

    #: Messages dropped because the buffer was full (the oldest go first).
    dropped: int

    async def __aenter__(self) -> Subscription: ...

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...


class PubSub(Protocol):
    """Fire-and-forget messages on named channels (invalidation, not a queue)."""

    async def publish(self, channel: str, message: bytes) -> None:
        """Send ``message`` to every current subscriber of ``channel`` (on every replica)."""
        ...

    def subscribe(self, channel: str, *, buffer: int = 1024) -> Subscription:
        """A subscription buffering at most ``buffer`` messages; enter it to start receiving."""
        ...


@dataclass(frozen=True, slots=True)
class Record:
    """One appended record: ``id`` increases along its stream and is the read cursor."""

    id: int
    data: bytes


class Records(Protocol):
    """Append-only streams of records, read back in append order."""

    async def append(self, stream: str, data: bytes) -> int:
        """Append ``data`` to ``stream``; returns the record's id (greater than every earlier one)."""
        ...

    async def read(self, stream: str, after: int = 0, limit: int = 100) -> list[Record]:
        """Up to ``limit`` records of ``stream`` with ids above ``after``, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job. ``lease`` names this claim: ack/nack with an expired lease do nothing."""

    id: str
    payload: bytes
    attempts: int
    lease: str


class WorkQueue(Protocol):
    """At-least-once jobs: claim leases a job; ack removes it; nack or an expired lease redelivers it."""

    async def enqueue(self, queue: str, payload: bytes, *, delay: float = 0.0) -> str:
        """Add a job (visible after ``delay`` seconds); returns its id."""
        ...

    async def claim(self, queue: str, lease: float) -> Job | None:
        """The oldest visible job, hidden from other claims for ``lease`` seconds; None when none."""
        ...

    async def ack(self, job: Job) -> bool:
        """Done: remove the job. False when the lease had expired (another claim may hold it)."""
        ...

    async def nack(self, job: Job, delay: float = 0.0) -> bool:
        """Not done: make the job visible again after ``delay`` seconds. False when the lease had expired."""
        ...

    async def pending(self, queue: str) -> int:
        """Jobs not yet acked (visible, delayed or leased)."""
        ...


@runtime_checkable
class Store(Protocol):
    """One storage backend's five abilities. Built without I/O; ``aclose`` releases connections."""

    #: The store's URL with any password masked (safe to log).
    url: str
    #: Prefix of every key, channel, stream and queue the store writes.
    prefix: str
    counters: Counters
    kv: KeyValue
    pubsub: PubSub
    records: Records
    queue: WorkQueue

    async def aclose(self) -> None:
        """Close connections and subscriptions; the store is unusable afterwards."""
        ...
