"""Retry-After is the backend's own answer to "when is there room for this cost".

In memory with an injected clock (both algorithms), in Redis (both
algorithms), and end to end: a 429 ``queue_full`` from a sliding window says
when the oldest request really leaves it.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from typing import Any

import aiohttp
import pytest

from switchyard.admission.limiter import LimitTicket
from switchyard.admission.waiting import LimitQueue
from switchyard.core.errors import RateLimited
from switchyard.core.messages import Chunk
from switchyard.storage.limits.gcra import Bucket, MemoryBackend
from switchyard.storage.limits.sliding import SlidingMemoryBackend
from tests.admission.test_limits_e2e import _config

RPM2 = Bucket("global:*:rpm", "global", "*", "rpm", 2, 60.0)
TPM = Bucket("global:*:tpm", "global", "*", "tpm", 100, 60.0)
SLOT = 0.06  # a minute window's slot (1000 slots): room returns at most one slot late


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _backends(clock: Clock) -> list[Any]:
    return [SlidingMemoryBackend(clock), MemoryBackend(clock)]


def _refusal(decision, key):  # the lane's own guess, which the backend's answer must replace
    return RateLimited(f"limit {key}", retry_after=RPM2.interval)


def test_room_after_reserves_nothing_and_agrees_with_acquire() -> None:
    async def run() -> None:
        clock = Clock()
        sliding, gcra = _backends(clock)
        for backend in (sliding, gcra):
            assert await backend.room_after([RPM2], [1]) == 0.0
            assert await backend.room_after([RPM2], [3]) == math.inf
            assert (await backend.acquire([RPM2], [1])).allowed
            clock.now += 10
            assert (await backend.acquire([RPM2], [1])).allowed
            clock.now += 10
            first = await backend.room_after([RPM2], [1])
            assert await backend.room_after([RPM2], [1]) == first  # asking charged nothing
            assert (await backend.acquire([RPM2], [1])).retry_after == pytest.approx(first)
            clock.now -= 20
        # Sliding: room when the first request leaves the window (40 s on), not window/limit (30 s).
        clock.now += 20
        assert 40.0 <= await sliding.room_after([RPM2], [1]) <= 40.0 + SLOT
        # GCRA: the next refill.
        assert await gcra.room_after([RPM2], [1]) == pytest.approx(10.0)

    asyncio.run(run())


@pytest.mark.parametrize("algorithm", ["sliding", "gcra"])
def test_a_cut_stream_says_when_the_hard_limit_has_room(algorithm: str) -> None:
    async def run() -> tuple[RateLimited, float, Any]:
        clock = Clock()
        backend = dict(zip(["sliding", "gcra"], _backends(clock)))[algorithm]
        limiter = type("L", (), {"backend": backend, "waits": None, "queue": None})()
        assert (await backend.acquire([TPM], [50])).allowed  # someone else, at t
        clock.now += 10
        decision = await backend.acquire([TPM], [30])
        ticket = LimitTicket(limiter, (TPM,), 30, 10)  # type: ignore[arg-type]
        ticket.ref, ticket.allowance, ticket.hard = decision.ref, 20 + 20, TPM
        with pytest.raises(RateLimited) as cut:
            ticket.observe(Chunk(raw=b'{"choices":[{"delta":{"content":"' + b"word " * 80 + b'"}}]}'))
            ticket.observe(Chunk(raw=b'{"choices":[{"delta":{"content":"' + b"word " * 80 + b'"}}]}'))
        clock.now += 5
        await ticket.settle(None)  # as the pipeline does before the error reaches the client
        return cut.value, await backend.room_after([TPM], [30]), clock

    error, room, _ = asyncio.run(run())
    assert error.code == "token_limit_reached"
    assert error.retry_after == pytest.approx(room)
    assert error.retry_after > 10 * TPM.interval  # far beyond the old window/limit hint
    assert "Retry in" in error.message
    if algorithm == "sliding":  # both entries must leave: the stream's own at t+70
        assert 55.0 <= error.retry_after <= 55.0 + SLOT  # it began at t+10, now is t+15


@pytest.mark.parametrize("algorithm", ["sliding", "gcra"])
def test_queue_full_and_queue_timeout_say_when_the_backend_has_room(algorithm: str) -> None:
    async def run() -> tuple[RateLimited, RateLimited, float, float]:
        clock = Clock()
        backend = dict(zip(["sliding", "gcra"], _backends(clock)))[algorithm]
        assert (await backend.acquire([TPM], [50])).allowed
        clock.now += 10
        assert (await backend.acquire([TPM], [50])).allowed
        clock.now += 10
        waits = LimitQueue(backend, 3, 2, 0.0)
        head = asyncio.ensure_future(waits.wait(TPM.key, [TPM], [10], 0, "a", 60.0, 40.0, _refusal))
        await asyncio.sleep(0)
        with pytest.raises(RateLimited) as timeout:  # a bigger request behind it times out
            await waits.wait(TPM.key, [TPM], [60], 0, "b", 0.05, 40.0, _refusal)
        tail = asyncio.ensure_future(waits.wait(TPM.key, [TPM], [10], 0, "c", 60.0, 40.0, _refusal))
        await asyncio.sleep(0)
        with pytest.raises(RateLimited) as full:
            await waits.wait(TPM.key, [TPM], [60], 0, "d", 60.0, 40.0, _refusal)
        for task in (head, tail):
            task.cancel()
        await asyncio.gather(head, tail, return_exceptions=True)
        await waits.aclose()
        assert waits.size == 0
        return timeout.value, full.value, await backend.room_after([TPM], [60]), await backend.room_after([TPM], [10])

    timeout, full, room60, room10 = asyncio.run(run())
    assert timeout.code == "queue_timeout" and full.code == "queue_full"
    assert timeout.retry_after == pytest.approx(room60) and full.retry_after == pytest.approx(room60)
    assert room60 > room10  # its own cost, not the head waiter's
    if algorithm == "sliding":  # 60 units must leave: both entries, the second at t+70
        assert 50.0 <= full.retry_after <= 50.0 + SLOT


@pytest.mark.parametrize("algorithm", ["sliding", "gcra"])
def test_redis_room_after_reserves_nothing_and_agrees_with_acquire(algorithm, redis_url, redis_prefix) -> None:
    import redis.asyncio as aioredis

    from switchyard.storage.limits.gcra_redis import RedisBackend
    from switchyard.storage.limits.sliding_redis import SlidingRedisBackend

    async def run() -> tuple[float, float, float, Any]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            cls = SlidingRedisBackend if algorithm == "sliding" else RedisBackend
            backend = cls(client, redis_prefix + uuid.uuid4().hex[:6] + ":")
            empty = await backend.room_after([RPM2], [1])
            assert (await backend.acquire([RPM2], [1])).allowed and (await backend.acquire([RPM2], [1])).allowed
            first = await backend.room_after([RPM2], [1])
            second = await backend.room_after([RPM2], [1])
            refused = await backend.acquire([RPM2], [1])
            never = await backend.room_after([RPM2], [3])
            return empty, first, second, (refused, never)
        finally:
            await client.aclose()

    empty, first, second, (refused, never) = asyncio.run(run())
    assert empty == 0.0 and never == math.inf
    assert not refused.allowed and abs(refused.retry_after - first) < 0.5
    assert abs(second - first) < 0.5  # asking charged nothing: still the same wait
    if algorithm == "sliding":
        assert 58.0 <= first <= 60.1  # when the first request leaves the window
    else:
        assert 28.0 <= first <= 30.1  # GCRA's next refill


def test_queue_full_retry_after_is_when_the_first_request_leaves(mock_upstream, start_gateway) -> None:
    """rpm 2 (sliding window), two requests, a third waits, a fourth finds the queue full."""
    limits = {"rules": [{"scope": "global", "rpm": 2}], "queue": {"max_wait": 120, "max_size": 1}}
    gateway = start_gateway(_config(mock_upstream, limits))
    auth = {"authorization": "Bearer sk-tenant-a"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    async def post(session: aiohttp.ClientSession) -> tuple[int, dict[str, str], Any]:
        async with session.post(gateway.url + "/v1/chat/completions", json=body, headers=auth) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.json(content_type=None)

    async def run() -> tuple[float, float, float, dict[str, str], Any]:
        async with aiohttp.ClientSession() as session:
            sent = time.monotonic()
            assert (await post(session))[0] == 200
            first = time.monotonic()
            assert (await post(session))[0] == 200
            waiting = asyncio.ensure_future(post(session))
            deadline = time.monotonic() + 10
            while True:
                async with session.get(gateway.url + "/health/ready", headers=auth) as r:
                    if (await r.json())["admission"]["limit_queue"]["waiting"] == 1:
                        break
                assert time.monotonic() < deadline, "the third request never waited"
                await asyncio.sleep(0.01)
            asked = time.monotonic()
            status, headers, refused = await post(session)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            assert status == 429
            return sent, first, asked, headers, refused

    sent, first, asked, headers, refused = asyncio.run(asyncio.wait_for(run(), 30))
    assert refused["error"]["code"] == "queue_full"
    seconds = int(headers["retry-after-ms"]) / 1000
    # The first request was admitted between `sent` and `first`; it leaves the window 60 s later.
    assert sent + 60 - asked - 1.0 <= seconds <= first + 60 - asked + 1.0, seconds
    assert int(headers["retry-after"]) == math.ceil(seconds - 1e-6)
