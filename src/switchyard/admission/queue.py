"""The admission queue: a concurrency cap with priority classes and fair sharing.

While fewer than ``concurrency`` requests are in flight (and nobody waits), a
request passes at the cost of a counter. Beyond that it waits, and each freed
slot goes to the next waiter chosen as follows:

* **classes**: the highest class with waiters goes first — except that every
  waiting class earns ``min_share`` of a turn per dispatch it is passed over,
  and a class holding a whole turn takes it. A class that keeps waiting thus
  gets at least ``min_share`` of the slots, spread evenly, so the lowest never
  starves outright and the highest is delayed by one dispatch at most now and
  then.
* **tenants within a class**: start-time weighted fair queuing. Each flow
  (tenant, else key) carries a virtual tag; the waiter whose flow has the
  smallest tag goes next and its flow's tag advances by ``1 / weight``. A flow
  that was idle starts at the class's current virtual time, so idling earns no
  credit.

Bounded: at most ``max_size`` waiters in all; a full queue, an expired wait
and a client that leaves are answered at once, and the waiter is removed
immediately. The one extra task, the disconnect watcher, exists only while a
request actually waits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.core.errors import ClientDisconnected, RateLimited


class _Waiter:
    __slots__ = ("future", "klass", "flow", "queued")

    def __init__(self, future: asyncio.Future[None], klass: int, flow: _Flow) -> None:
        self.future = future
        self.klass = klass
        self.flow = flow
        self.queued = True


class _Flow:
    __slots__ = ("name", "weight", "tag", "waiters")

    def __init__(self, name: str, weight: float) -> None:
        self.name = name
        self.weight = weight
        self.tag = 0.0
        self.waiters: deque[_Waiter] = deque()


class _Class:
    __slots__ = ("flows", "active", "vtime", "size", "credit", "dispatched")

    def __init__(self) -> None:
        self.flows: dict[str, _Flow] = {}
        self.active: list[_Flow] = []  # flows with waiters
        self.vtime = 0.0
        self.size = 0
        self.credit = 0.0
        self.dispatched = 0


class AdmissionQueue:
    """``acquire`` a slot (maybe waiting), ``release`` it when the request is done."""

    def __init__(self, classes: list[str], concurrency: int, max_size: int, min_share: float,
                 weights: dict[str, float] | None = None) -> None:
        self.names = list(classes)
        self.concurrency = concurrency
        self.max_size = max_size
        self.min_share = min_share
        self.weights = dict(weights or {})
        self.in_flight = 0
        self.size = 0
        self.refused = 0
        self._classes = [_Class() for _ in classes]

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits (the no-wait path)."""
        if self.in_flight < self.concurrency and not self.size:
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
        waiter = self._enqueue(loop.create_future(), klass, flow)
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
                self._remove(waiter)
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
        while self.size and self.in_flight < self.concurrency:
            waiter = self._next()
            self._remove(waiter)
            self.in_flight += 1
            waiter.future.set_result(None)

    # -- bookkeeping ------------------------------------------------------
    def _enqueue(self, future: asyncio.Future[None], klass: int, name: str) -> _Waiter:
        cls = self._classes[klass]
        flow = cls.flows.get(name)
        if flow is None:
            flow = cls.flows[name] = _Flow(name, self.weights.get(name, 1.0))
        waiter = _Waiter(future, klass, flow)
        if not flow.waiters:
            flow.tag = max(flow.tag, cls.vtime)
            cls.active.append(flow)
        flow.waiters.append(waiter)
        cls.size += 1
        self.size += 1
        return waiter

    def _remove(self, waiter: _Waiter) -> None:
        if not waiter.queued:
            return
        waiter.queued = False
        cls = self._classes[waiter.klass]
        flow = waiter.flow
        flow.waiters.remove(waiter)
        if not flow.waiters:
            cls.active.remove(flow)
            if len(cls.flows) > 4096:  # flows are per tenant; forget idle ones beyond a bound
                cls.flows.pop(flow.name, None)
        cls.size -= 1
        if not cls.size:
            cls.credit = 0.0
        self.size -= 1

    def _leave(self, waiter: _Waiter, error: BaseException) -> None:
        if waiter.queued and not waiter.future.done():
            self._remove(waiter)
            waiter.future.set_exception(error)

    def _expire(self, waiter: _Waiter, max_wait: float) -> None:
        self.refused += 1
        self._leave(waiter, RateLimited(
            f"The request waited {max_wait:g}s in the admission queue (limits.queue.max_wait) "
            "without getting a slot.", code="queue_timeout", retry_after=1.0))

    def _next(self) -> _Waiter:
        waiting = [i for i, c in enumerate(self._classes) if c.size]
        chosen = waiting[0]
        if self.min_share and len(waiting) > 1:
            for i in waiting[1:]:
                self._classes[i].credit += self.min_share
            starved = max(waiting[1:], key=lambda i: self._classes[i].credit)
            if self._classes[starved].credit >= 1.0:
                self._classes[starved].credit -= 1.0
                chosen = starved
        cls = self._classes[chosen]
        cls.dispatched += 1
        flow = min(cls.active, key=lambda f: f.tag)
        waiter = flow.waiters[0]
        cls.vtime = flow.tag
        flow.tag += 1.0 / flow.weight
        return waiter

    def status(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "in_flight": self.in_flight,
            "waiting": self.size,
            "waiting_by_class": {n: c.size for n, c in zip(self.names, self._classes)},
            "refused": self.refused,
        }
