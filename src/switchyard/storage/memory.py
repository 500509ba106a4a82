"""``memory://``: every ability of a store inside this process (the embedded default).

Nothing is shared with other processes and nothing survives a restart. Every
structure is bounded (URL query or ``open_store`` options):

* ``max_keys`` (kv, default 100000): the least recently written key is dropped;
* ``max_records`` (per stream, default 10000): the oldest record is dropped;
* ``max_jobs`` (per queue, default 100000): ``enqueue`` raises ``QueueFull``;
* counters: at most ``slots + 1`` entries per key, empty windows swept.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import OrderedDict, deque

from switchyard.storage.counting import MemoryCounters
from switchyard.storage.fanout import LocalPubSub
from switchyard.storage.limits import LimitBackend
from switchyard.storage.limits.gcra import MemoryBackend
from switchyard.storage.limits.sliding import SLOTS, SlidingMemoryBackend
from switchyard.storage.protocols import Job, Record
from switchyard.storage.url import StoreSpec


class QueueFull(RuntimeError):
    """An in-memory queue is at its ``max_jobs`` bound."""


def _int_option(spec: StoreSpec, name: str, default: int) -> int:
    try:
        value = int(spec.options.get(name, default))
    except (TypeError, ValueError):
        raise spec.error(f"option {name!r} must be an integer") from None
    if value < 1:
        raise spec.error(f"option {name!r} must be at least 1")
    return value


class MemoryKV:
    """Keys -> (value, expiry on the monotonic clock), least recently written dropped past ``max_keys``."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    def _live(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[0]

    def _write(self, key: str, value: bytes, ttl: float | None) -> None:
        self._entries[key] = (bytes(value), time.monotonic() + ttl if ttl is not None else float("inf"))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._write(key, value, ttl)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        self._write(key, value, ttl)
        return True

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None) -> bool:
        if self._live(key) != expected:
            return False
        self._write(key, value, ttl)
        return True

    async def delete(self, key: str) -> bool:
        return self._live(key) is not None and self._entries.pop(key, None) is not None


class MemoryRecords:
    """Streams of records; past ``max_records`` a stream drops its oldest."""

    def __init__(self, max_records: int) -> None:
        self.max_records = max_records
        self._streams: dict[str, deque[Record]] = {}
        self._ids = itertools.count(1)

    async def append(self, stream: str, data: bytes) -> int:
        records = self._streams.get(stream)
        if records is None:
            records = self._streams[stream] = deque(maxlen=self.max_records)
        record = Record(next(self._ids), bytes(data))
        records.append(record)
        return record.id

    async def read(self, stream: str, after: int = 0, limit: int = 100) -> list[Record]:
        out: list[Record] = []
        for record in self._streams.get(stream, ()):
            if record.id > after:
                out.append(record)
                if len(out) >= limit:
                    break
        return out


class _Entry:
    __slots__ = ("payload", "attempts", "visible_at", "lease", "order")

    def __init__(self, payload: bytes, visible_at: float, order: int) -> None:
        self.payload = payload
        self.attempts = 0
        self.visible_at = visible_at
        self.lease = ""
        self.order = order


class MemoryQueue:
    """Jobs with leases on the monotonic clock; ``max_jobs`` per queue (then ``QueueFull``)."""

    def __init__(self, max_jobs: int) -> None:
        self.max_jobs = max_jobs
        self._queues: dict[str, dict[str, _Entry]] = {}
        self._order = itertools.count()

    async def enqueue(self, queue: str, payload: bytes, *, delay: float = 0.0) -> str:
        jobs = self._queues.setdefault(queue, {})
        if len(jobs) >= self.max_jobs:
            raise QueueFull(f"queue {queue!r} holds {self.max_jobs} jobs (max_jobs)")
        job_id = uuid.uuid4().hex
        jobs[job_id] = _Entry(bytes(payload), time.monotonic() + max(0.0, delay), next(self._order))
        return job_id

    async def claim(self, queue: str, lease: float) -> Job | None:
        now = time.monotonic()
        best: tuple[str, _Entry] | None = None
        for job_id, entry in self._queues.get(queue, {}).items():
            if entry.visible_at <= now and (best is None or (entry.visible_at, entry.order)
                                            < (best[1].visible_at, best[1].order)):
                best = (job_id, entry)
        if best is None:
            return None
        job_id, entry = best
        entry.attempts += 1
        entry.visible_at = now + lease
        entry.lease = uuid.uuid4().hex
        return Job(f"{queue}/{job_id}", entry.payload, entry.attempts, entry.lease)

    def _held(self, job: Job) -> tuple[dict[str, _Entry], str, _Entry] | None:
        queue, _, job_id = job.id.rpartition("/")
        jobs = self._queues.get(queue, {})
        entry = jobs.get(job_id)
        if entry is None or entry.lease != job.lease or entry.visible_at <= time.monotonic():
            return None
        return jobs, job_id, entry

    async def ack(self, job: Job) -> bool:
        held = self._held(job)
        if held is None:
            return False
        jobs, job_id, _ = held
        del jobs[job_id]
        return True

    async def nack(self, job: Job, delay: float = 0.0) -> bool:
        held = self._held(job)
        if held is None:
            return False
        _, _, entry = held
        entry.visible_at = time.monotonic() + max(0.0, delay)
        entry.lease = ""
        return True

    async def pending(self, queue: str) -> int:
        return len(self._queues.get(queue, {}))


class MemoryStore:
    """The in-process store. Also keeps the rate-limit counters (``LimitStore``)."""

    def __init__(self, spec: StoreSpec) -> None:
        self.url = spec.masked
        self.prefix = spec.prefix
        self.slots = _int_option(spec, "slots", SLOTS)
        self.counters = MemoryCounters(slots=self.slots)
        self.kv = MemoryKV(_int_option(spec, "max_keys", 100_000))
        self.pubsub = LocalPubSub()
        self.records = MemoryRecords(_int_option(spec, "max_records", 10_000))
        self.queue = MemoryQueue(_int_option(spec, "max_jobs", 100_000))

    def limit_backend(self, algorithm: str, *, slots: int = SLOTS, on_error: str = "open",
                      retry_after: float = 1.0) -> LimitBackend:
        """A fresh in-process limit backend (each ``limits:`` section keeps its own buckets)."""
        if algorithm == "sliding_window":
            return SlidingMemoryBackend(slots=slots)
        if algorithm == "gcra":
            return MemoryBackend()
        raise ValueError(f"unknown limit algorithm {algorithm!r}")

    async def aclose(self) -> None:
        self.pubsub.close()

    def __repr__(self) -> str:
        return f"MemoryStore({self.url!r})"
