"""A bounded, batched, append-only writer: records in, batches out, nothing lost on close.

``Appender(sink, capacity=..., batch=..., interval=..., overflow=...)`` takes
records with ``add(record)`` (no I/O on the caller's path) and hands them to
``await sink(batch)`` from one background task, up to ``batch`` at a time and
at least every ``interval`` seconds. The spend records and the audit log write
through one each: a database sees one multi-row INSERT per batch, never a
statement per request.

The buffer holds at most ``capacity`` records. When it is full, ``overflow``
decides, and says so in the counters:

* ``"drop"`` — the new record is dropped and counted (``dropped``); the caller
  never waits. For figures that may be approximate under overload.
* ``"block"`` — ``add`` returns False and the caller awaits ``room()`` (the
  awaitable form, ``put``, does both). For records that must not be lost.

A batch the sink fails to write is retried with backoff (``retry_max`` seconds
at most between tries) and stays counted in ``pending`` meanwhile; records are
taken off the buffer only once written. ``aclose()`` stops taking records,
writes everything already accepted (bounded by ``drain_timeout``), and counts
what it could not write as ``lost``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Literal, TypeVar

from switchyard.storage.wake import Wake

log = logging.getLogger("switchyard.storage")

T = TypeVar("T")
Overflow = Literal["block", "drop"]


class Appender(Generic[T]):
    """See the module docstring. Start with ``start()`` (needs a running loop)."""

    def __init__(self, sink: Callable[[Sequence[T]], Awaitable[object]], *, name: str,
                 capacity: int = 10_000, batch: int = 500, interval: float = 0.2,
                 overflow: Overflow = "block", retry_max: float = 5.0, drain_timeout: float = 10.0) -> None:
        if capacity < 1 or batch < 1:
            raise ValueError("capacity and batch must be at least 1")
        if overflow not in ("block", "drop"):
            raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        self.sink = sink
        self.name = name
        self.capacity = capacity
        self.batch = batch
        self.interval = interval
        self.overflow: Overflow = overflow
        self.retry_max = retry_max
        self.drain_timeout = drain_timeout
        self._buffer: deque[T] = deque()
        self._wake = Wake()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: Records written, dropped (full buffer, ``drop``), and lost (unwritten at close).
        self.written = 0
        self.dropped = 0
        self.lost = 0
        #: Batches the sink failed to write (each retried).
        self.failures = 0

    @property
    def pending(self) -> int:
        """Records accepted and not yet written."""
        return len(self._buffer)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"appender:{self.name}")

    def add(self, record: T) -> bool:
        """Accept ``record`` without waiting. False when it was not taken: the
        buffer is full (``drop``: counted as dropped; ``block``: await ``room()``
        and add again) or the appender is closing."""
        if self._closing:
            self.lost += 1
            return False
        buffer = self._buffer
        if len(buffer) >= self.capacity:
            if self.overflow == "drop":
                self.dropped += 1
            else:
                self._room.clear()
            return False
        if not buffer:  # (``_idle`` is set only while the buffer is empty: clear it once, not per record)
            self._idle.clear()
        buffer.append(record)
        if len(buffer) >= self.batch:
            self._wake.set()
        return True

    async def room(self) -> None:
        """Returns once the buffer has room again."""
        await self._room.wait()

    async def put(self, record: T) -> bool:
        """``add``, waiting for room under ``block``; False only when dropped or closing."""
        while not self.add(record):
            if self.overflow == "drop" or self._closing:
                return False
            await self.room()
        return True

    async def flushed(self) -> None:
        """Returns once everything accepted so far has been written (or closing gave up)."""
        self._wake.set()
        await self._idle.wait()

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            if not self._buffer:
                self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait(self.interval)
                continue
            if len(self._buffer) < self.batch and not self._closing and not self._wake.is_set():
                await self._wake.wait(self.interval)  # let a batch fill for at most one interval
            batch = list(itertools.islice(self._buffer, self.batch))
            try:
                await self.sink(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                log.warning("append_failed", extra={"appender": self.name, "records": len(batch),
                                                    "error": type(exc).__name__, "retry_in": round(backoff, 3)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_max)
                continue
            backoff = 0.05
            for _ in batch:
                self._buffer.popleft()
            self.written += len(batch)
            self._wake.clear()
            if len(self._buffer) < self.capacity:
                self._room.set()

    async def aclose(self) -> None:
        """Stop accepting, write what was accepted (within ``drain_timeout``), stop."""
        self._closing = True
        self._room.set()  # blocked writers wake, see closing and give up
        task = self._task
        if task is None:
            self.lost += len(self._buffer)
            self._buffer.clear()
            return
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.drain_timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.lost += len(self._buffer)
        if self._buffer:
            log.error("append_lost", extra={"appender": self.name, "records": len(self._buffer)})
        self._buffer.clear()
        self._idle.set()
