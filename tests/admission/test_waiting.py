"""LimitQueue in process: order of service, expiry, refunds waking a lane."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchyard.admission.waiting import LimitQueue
from switchyard.core.errors import RateLimited
from switchyard.storage.limits.gcra import Bucket, MemoryBackend

# 600 a minute: one refill every 100 ms.
BUCKET = Bucket("global:*:rpm", "global", "*", "rpm", 600, 60.0)


def _refusal(decision, key):
    return RateLimited(f"limit {key}", retry_after=0.1)


async def _drained() -> tuple[MemoryBackend, LimitQueue]:
    backend = MemoryBackend()
    await backend.adjust([BUCKET], [600])  # as if 600 had just passed
    return backend, LimitQueue(backend, 3, 10, 0.0)


def test_waiters_are_served_by_class_then_arrival() -> None:
    async def run() -> list[str]:
        backend, waits = await _drained()
        served: list[str] = []

        async def one(name: str, klass: int) -> None:
            await waits.wait(BUCKET.key, [BUCKET], [1], klass, name, 5.0, 0.1, _refusal)
            served.append(name)

        tasks = [asyncio.ensure_future(one("low-1", 2)), asyncio.ensure_future(one("low-2", 2))]
        await asyncio.sleep(0)
        tasks.append(asyncio.ensure_future(one("high", 0)))  # arrives last, goes first
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert waits.size == 0 and not waits.lanes
        return served

    assert asyncio.run(run()) == ["high", "low-1", "low-2"]


def test_an_expired_wait_is_refused_with_retry_after() -> None:
    async def run() -> RateLimited:
        backend, waits = await _drained()
        with pytest.raises(RateLimited) as refused:
            await waits.wait(BUCKET.key, [BUCKET], [1], 0, "a", 0.05, 1.0, _refusal)
        assert waits.size == 0 and not waits.lanes
        return refused.value

    error = asyncio.run(run())
    assert error.code == "queue_timeout" and error.retry_after is not None and error.retry_after > 0


def test_a_refund_wakes_the_lane_at_once() -> None:
    async def run() -> float:
        backend, waits = await _drained()
        started = time.monotonic()
        waiting = asyncio.ensure_future(waits.wait(BUCKET.key, [BUCKET], [1], 0, "a", 5.0, 2.0, _refusal))
        await asyncio.sleep(0.01)
        await backend.adjust([BUCKET], [-5])  # five units given back
        waits.wake([BUCKET])
        await asyncio.wait_for(waiting, 5)
        return time.monotonic() - started

    assert asyncio.run(run()) < 1.0  # not the 2 s the lane was armed for


async def test_closing_the_gateway_answers_every_waiter_at_once():
    """A request waiting on a limit when the gateway stops gets a 503, not a hang; no timer is left."""
    import switchyard
    from switchyard.core.errors import ServiceUnavailable

    config = {"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}},
              "limits": {"rules": [{"scope": "global", "rpm": 1}], "queue": {"max_wait": 120}}}
    client = switchyard.AsyncClient(config)
    hi = [{"role": "user", "content": "hi"}]
    await client.chat(model="m", messages=hi)
    waiting = asyncio.ensure_future(client.chat(model="m", messages=hi))
    services = client.services
    assert services is not None
    queue = services.admission.admission.waits  # type: ignore[attr-defined]
    for _ in range(200):  # bounded: until it queues
        if queue.size:
            break
        await asyncio.sleep(0.005)
    assert queue.size == 1
    await asyncio.wait_for(client.aclose(), 5)
    with pytest.raises(ServiceUnavailable):
        await asyncio.wait_for(waiting, 2)
    assert not queue.lanes
