"""Waiting for a rate limit to refill, in priority and fair order.

A request refused by a bucket (sliding.py or gcra.py) that may wait joins the *lane*
of that bucket. A lane holds its waiters in ``FairOrder`` (fairness.py) and
one timer, set for when the bucket can next admit (the refusal's
``retry_after``: GCRA's next refill, or when the sliding window's oldest
entries leave). When it fires, the lane serves waiters in order: it asks
the backend for the chosen waiter's whole reservation (every bucket of the
request, all or nothing) and

* admitted: the waiter goes on, and the lane tries the next one at once;
* refused by the lane's bucket: the timer is set again, for the new
  ``retry_after``, and the waiter stays first;
* refused by another of its buckets (its tenant's, say): it moves to that
  bucket's lane, so it never blocks the others here.

A request arriving while any of its buckets has a lane joins the queue rather
than taking the refill from those already waiting, so a high class that
arrives later still goes first. Nobody polls: there is one timer per busy
bucket, not one per request. A refund (a settled reservation that used less)
wakes the lanes of its buckets at once.

Guarantees. In memory (one process) the order is exact. With Redis, each
replica orders its own waiters (priority and fairness are per replica); the
limit itself stays exact across replicas, because every admission, from a
lane or not, is the same atomic script — replicas only compete for refills,
and a replica whose wake-up loses the race sets its timer again.

Bounded: at most ``max_size`` requests wait for limits; a full queue answers
429 at once, an expired wait answers 429 (both with ``Retry-After``), a client
that disconnects leaves its lane immediately (one watcher task per waiting
request, none otherwise).

Retry-After. Every refusal here says when the backend itself expects room for
the refused request's costs (``room_for``: the sliding window's oldest entries
leaving, GCRA's refill) — never a guess from the limit's average interval.
When the backend cannot say, it answers the conservative fallback (a whole period).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from switchyard.admission.fairness import FairOrder, Waiter
from switchyard.core.errors import ClientDisconnected, RateLimited, ServiceUnavailable
from switchyard.storage.limits.gcra import Bucket, Decision

#: A lane never re-arms sooner than this: GCRA answers in (sub)milliseconds.
_MIN_DELAY = 0.0005


async def room_for(backend: Any, buckets: Sequence[Bucket], costs: Sequence[float],
                   fallback: float | None) -> float | None:
    """When there is room for ``costs`` in every bucket, as ``backend`` answers (0: now);
    ``fallback`` when it cannot say, None when never (a cost above a limit)."""
    try:
        wait = await backend.room_after(buckets, costs)
    except Exception:  # e.g. failing closed: the refusal stands, its hint is the fallback
        wait = None
    if wait is None:
        return fallback
    return None if wait == float("inf") else max(wait, 0.001)


class LimitWaiter(Waiter):
    __slots__ = ("buckets", "costs", "flow_name", "deadline", "lane", "refusal")

    def __init__(self, future: asyncio.Future[Any], klass: int, flow_name: str, buckets: Sequence[Bucket],
                 costs: Sequence[float], deadline: float, refusal: Callable[[Decision | None, str], RateLimited]) -> None:
        super().__init__(future, klass)
        self.flow_name = flow_name
        self.buckets = buckets
        self.costs = costs
        self.deadline = deadline
        self.lane: _Lane | None = None
        self.refusal = refusal


class _Lane:
    __slots__ = ("key", "order", "timer", "busy", "wake_at")

    def __init__(self, key: str, order: FairOrder) -> None:
        self.key = key
        self.order = order
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False
        self.wake_at = 0.0


class LimitQueue:
    """Requests waiting for their rate limits, one lane per refusing bucket."""

    def __init__(self, backend: Any, classes: int, max_size: int, min_share: float,
                 weights: dict[str, float] | None = None) -> None:
        self.backend = backend
        self.classes = classes
        self.max_size = max_size
        self.min_share = min_share
        self.weights = dict(weights or {})
        self.lanes: dict[str, _Lane] = {}
        self.size = 0
        self.refused = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def lane_for(self, buckets: Sequence[Bucket]) -> str | None:
        """The key of a lane one of ``buckets`` already has (requests there must queue behind it)."""
        lanes = self.lanes
        for bucket in buckets:
            if bucket.key in lanes:
                return bucket.key
        return None

    async def wait(self, lane_key: str, buckets: Sequence[Bucket], costs: Sequence[float], klass: int,
                   flow: str, max_wait: float, first_wait: float,
                   refusal: Callable[[Decision | None, str], RateLimited],
                   gone: Callable[[], Awaitable[Any]] | None = None) -> tuple[Decision, float]:
        """Wait in ``lane_key``'s lane until the whole reservation is admitted.

        ``first_wait``: when the refusing bucket can next admit (used when the
        lane is new). Returns the backend's decision and the seconds waited.
        Raises RateLimited (queue full, wait expired, or the limit cannot free
        up in time) or ClientDisconnected.
        """
        if self.size >= self.max_size:
            self.refused += 1
            error = refusal(None, lane_key)
            raise RateLimited(
                f"{error.message} The queue for rate limits is full ({self.size} waiting; "
                f"limits.queue.max_size is {self.max_size}).",
                code="queue_full", retry_after=await room_for(self.backend, buckets, costs, error.retry_after),
                headers=error.headers,
            )
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        waiter = LimitWaiter(loop.create_future(), klass, flow, buckets, costs, started + max_wait, refusal)
        self._join(waiter, lane_key, first_wait)
        timer = loop.call_later(max_wait, self._expire, waiter, max_wait)
        watcher = None
        if gone is not None:
            watcher = asyncio.ensure_future(gone())
            watcher.add_done_callback(lambda _: self._leave(waiter, ClientDisconnected(
                "The client disconnected while its request waited for a rate limit.")))
        try:
            decision = await waiter.future
        except BaseException:
            if waiter.queued:
                self._drop(waiter)
            elif waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                # Admitted just as it was cancelled: give the reservation back.
                self._spawn(self.backend.adjust(buckets, [-c for c in costs], waiter.future.result().ref))
            raise
        finally:
            timer.cancel()
            if watcher is not None:
                watcher.cancel()
        return decision, time.monotonic() - started

    def wake(self, buckets: Sequence[Bucket]) -> None:
        """Capacity came back early (a refund): serve the lanes of ``buckets`` now."""
        for bucket in buckets:
            lane = self.lanes.get(bucket.key)
            if lane is not None and lane.timer is not None and not lane.busy:
                lane.timer.cancel()
                lane.timer = None
                self._fire(lane)

    # -- lanes ------------------------------------------------------------
    def _join(self, waiter: LimitWaiter, key: str, first_wait: float) -> None:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = _Lane(key, FairOrder(self.classes, self.min_share, self.weights))
        lane.order.push(waiter, waiter.flow_name)
        waiter.lane = lane
        self.size += 1
        if lane.timer is None and not lane.busy:
            self._arm(lane, first_wait)

    def _arm(self, lane: _Lane, delay: float) -> None:
        loop = asyncio.get_running_loop()
        delay = max(delay, _MIN_DELAY)
        lane.wake_at = time.monotonic() + delay
        lane.timer = loop.call_later(delay, self._fire, lane)

    def _fire(self, lane: _Lane) -> None:
        lane.timer = None
        lane.busy = True
        self._spawn(self._serve(lane))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, lane: _Lane) -> None:
        order = lane.order
        try:
            while order.size:
                waiter = order.peek()
                assert isinstance(waiter, LimitWaiter)
                try:
                    decision = await self.backend.acquire(waiter.buckets, waiter.costs)
                except Exception as exc:  # e.g. the backend fails closed: this waiter gets the 503
                    if waiter.queued and not waiter.future.done():
                        self._drop(waiter)
                        waiter.future.set_exception(exc)
                    continue
                if not waiter.queued or waiter.future.done():  # it left while we asked
                    if decision.allowed and not decision.degraded:
                        await self.backend.adjust(waiter.buckets, [-c for c in waiter.costs], decision.ref)
                    continue
                if decision.allowed:
                    order.take(waiter)
                    self.size -= 1
                    waiter.future.set_result(decision)
                    continue
                refused = waiter.buckets[decision.refused].key
                if time.monotonic() + decision.retry_after > waiter.deadline:
                    self._drop(waiter)
                    self.refused += 1
                    waiter.future.set_exception(waiter.refusal(decision, refused))
                    continue
                if refused != lane.key:  # bound elsewhere now: wait there, not in front of others here
                    self._drop(waiter)
                    self._join(waiter, refused, decision.retry_after)
                    continue
                self._arm(lane, decision.retry_after)
                return
        finally:
            lane.busy = False
            if not order.size and lane.timer is None and self.lanes.get(lane.key) is lane:
                del self.lanes[lane.key]

    def _drop(self, waiter: LimitWaiter) -> None:
        lane = waiter.lane
        if lane is None or not waiter.queued:
            return
        lane.order.remove(waiter)
        self.size -= 1
        if not lane.order.size and not lane.busy:
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            if self.lanes.get(lane.key) is lane:
                del self.lanes[lane.key]

    def _leave(self, waiter: LimitWaiter, error: BaseException) -> None:
        if waiter.queued and not waiter.future.done():
            self._drop(waiter)
            waiter.future.set_exception(error)

    def _expire(self, waiter: LimitWaiter, max_wait: float) -> None:
        if not waiter.queued or waiter.future.done():
            return
        self.refused += 1
        lane = waiter.lane
        error = waiter.refusal(None, lane.key if lane is not None else "")
        behind = self.size - 1
        self._drop(waiter)  # out of the lane now; the refusal follows once the backend said when
        self._spawn(self._refuse_expired(waiter, error, max_wait, behind))

    async def _refuse_expired(self, waiter: LimitWaiter, error: RateLimited, max_wait: float, behind: int) -> None:
        retry = error.retry_after
        try:
            retry = await room_for(self.backend, waiter.buckets, waiter.costs, retry)
        finally:
            if not waiter.future.done():
                waiter.future.set_exception(RateLimited(
                    f"{error.message} The request waited {max_wait:g}s for it (limits.queue.max_wait), "
                    f"behind {behind} other waiting request(s).",
                    code="queue_timeout", retry_after=retry, headers=error.headers))

    def status(self) -> dict[str, Any]:
        return {"waiting": self.size, "lanes": len(self.lanes), "refused": self.refused}

    async def aclose(self) -> None:
        """Shutdown: cancel the timers and tasks; every waiter is answered 503 at once."""
        for lane in self.lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            while lane.order.size:
                waiter = lane.order.pop()
                if not waiter.future.done():
                    waiter.future.set_exception(ServiceUnavailable("The gateway is shutting down.", retry_after=1.0))
        self.lanes.clear()
        for task in list(self._tasks):
            task.cancel()
