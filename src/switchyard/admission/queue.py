"""The admission queue: a concurrency cap with priority classes and fair sharing.

While fewer than ``concurrency`` requests are in flight (and nobody waits), a
request passes at the cost of a counter. Beyond that it waits, and each freed
slot goes to the next waiter in ``FairOrder`` (fairness.py): higher classes
first, a minimum share per class, weighted fair queuing among tenants.

Bounded: at most ``max_size`` waiters in all; a full queue, an expired wait
and a client that leaves are answered at once, and the waiter is removed
immediately. The one extra task, the disconnect watcher, exists only while a
request actually waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.admission.fairness import FairOrder, Waiter
from switchyard.core.errors import ClientDisconnected, RateLimited


class AdmissionQueue:
    """``acquire`` a slot (maybe waiting), ``release`` it when the request is done."""

    def __init__(self, classes: list[str], concurrency: int, max_size: int, min_share: float,
                 weights: dict[str, float] | None = None) -> None:
        self.names = list(classes)
        self.concurrency = concurrency
        self.max_size = max_size
        self.min_share = min_share
        self.in_flight = 0
        self.refused = 0
        self._order = FairOrder(len(classes), min_share, dict(weights or {}))

    @property
    def size(self) -> int:
        return self._order.size

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits (the no-wait path)."""
        if self.in_flight < self.concurrency and not self._order.size:
            self.in_flight += 1
            return True
        return False

    async def acquire(self, klass: int, flow: str, max_wait: float,
                      gone: Callable[[], Awaitable[Any]] | None = None) -> float:
        """Wait for a slot; returns the seconds waited. Raises RateLimited when the
        queue is full or the wait expires, ClientDisconnected when the client leaves."""
        if self.try_acquire():
            return 0.0
        if self.size >= self.max_size or max_wait <= 0:
            self.refused += 1
            raise RateLimited(
                f"The gateway is at capacity ({self.concurrency} requests in flight, "
                f"{self.size} waiting; the queue holds {self.max_size}). Retry shortly.",
                code="queue_full", retry_after=1.0,
            )
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        waiter = Waiter(loop.create_future(), klass)
        self._order.push(waiter, flow)
        timer = loop.call_later(max_wait, self._expire, waiter, max_wait)
        watcher = None
        if gone is not None:
            watcher = asyncio.ensure_future(gone())
            watcher.add_done_callback(lambda _: self._leave(waiter, ClientDisconnected(
                "The client disconnected while its request was queued.")))
        try:
            await waiter.future
        except BaseException:
            if waiter.queued:
                self._order.remove(waiter)
            elif waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self.release()  # granted just as we were cancelled: hand the slot on
            raise
        finally:
            timer.cancel()
            if watcher is not None:
                watcher.cancel()
        return time.monotonic() - started

    def release(self) -> None:
        """A request finished: its slot goes to the next waiter, if any."""
        self.in_flight -= 1
        order = self._order
        while order.size and self.in_flight < self.concurrency:
            waiter = order.pop()
            self.in_flight += 1
            waiter.future.set_result(None)

    def _leave(self, waiter: Waiter, error: BaseException) -> None:
        if waiter.queued and not waiter.future.done():
            self._order.remove(waiter)
            waiter.future.set_exception(error)

    def _expire(self, waiter: Waiter, max_wait: float) -> None:
        if waiter.queued:
            self.refused += 1
        self._leave(waiter, RateLimited(
            f"The request waited {max_wait:g}s in the admission queue (limits.queue.max_wait) "
            "without getting a slot.", code="queue_timeout", retry_after=1.0))

    def status(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "in_flight": self.in_flight,
            "waiting": self.size,
            "waiting_by_class": dict(zip(self.names, self._order.sizes())),
            "refused": self.refused,
        }
