"""Waiting on a rate limit (not the concurrency cap): priority, fair shares, min share, disconnects.

The contention tests share a 1200-requests-per-minute limit in Redis. Each
test first fills the sliding window as a replica under steady load would have
left it — 1200 requests spread over the last minute — so about one request
leaves the window every 50 ms, and every request after that waits for one.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from typing import Any

import aiohttp
import redis

from tests.admission.test_limits_e2e import _config
from tests.admission.test_queue_e2e import _call, _raw_request

RPM = 1200


def _limits(min_share: float = 0.05, **queue: Any) -> dict[str, Any]:
    return {"backend": "redis", "rules": [{"scope": "global", "rpm": RPM}],
            "priority": {"tiers": {"gold": "high"}, "min_share": min_share},
            "queue": {"max_wait": 30, **queue}}


def _drain(redis_url: str, prefix: str, key: str = "global:*:rpm") -> None:
    """Fill the window (sliding_redis.py's layout): 1.2 requests in each of its 1000 slots of 60 ms."""
    client = redis.Redis.from_url(redis_url)
    try:
        seconds, micros = client.time()
        slot = math.ceil((seconds * 1_000_000 + micros) / 60_000)
        slots = list(range(slot - 999, slot + 1))
        zset, amounts = prefix + "sw:" + key, prefix + "sw:" + key + ":a"
        client.zadd(zset, {str(s): s for s in slots})
        client.hset(amounts, mapping={**{str(s): 1.2 for s in slots}, "t": RPM})
        client.pexpire(zset, 61_000)
        client.pexpire(amounts, 61_000)
    finally:
        client.close()


async def _clients(url: str, groups: list[tuple[str, dict[str, str], int, float, list[Any]]], seconds: float) -> None:
    """Run each group's clients (key, headers, count, pause between calls, results) for ``seconds``;
    results get (queued ms, finished at) of each 200; calls still waiting at the end are cancelled."""
    stop_at = time.monotonic() + seconds

    async def client(session, key, headers, pause, out):
        for _ in range(1000):
            status, waited = await _call(session, url, key, headers)
            assert status == 200
            if time.monotonic() < stop_at:
                out.append(waited)
            if pause:
                await asyncio.sleep(pause)

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.ensure_future(client(session, key, headers, pause, out))
                 for key, headers, count, pause, out in groups for _ in range(count)]
        done, _ = await asyncio.wait(tasks, timeout=seconds)
        for task in done:
            task.result()  # a failed client fails the test
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_high_class_waits_little_on_a_rate_limit(mock_upstream, start_gateway, redis_url, redis_prefix) -> None:
    gateway = start_gateway(_config(mock_upstream, _limits(), redis_url, redis_prefix))
    _drain(redis_url, redis_prefix)
    high: list[float] = []
    low: list[float] = []
    # The high class asks for about a quarter of the refills; six low clients want all the rest.
    asyncio.run(asyncio.wait_for(_clients(gateway.url, [
        ("sk-gold", {}, 1, 0.2, high),
        ("sk-tenant-a", {"x-switchyard-priority": "low"}, 6, 0.0, low),
    ], 3.0), 60))
    assert len(high) >= 8 and len(low) >= 10, (len(high), len(low))
    high_p99 = sorted(high)[max(0, int(len(high) * 0.99) - 1)]
    # Priority: about one refill (50 ms); generous for a busy machine.
    assert high_p99 < 500, (high_p99, high)
    assert high_p99 < statistics.median(low), (high_p99, statistics.median(low))
    assert statistics.mean(low) > 3 * max(statistics.mean(high), 5.0)
    # Exact limit: at most what left the full window got through (one per 50 ms).
    assert mock_upstream.count("/v1/chat/completions") <= 3.5 * RPM / 60 + 40


def test_tenants_of_one_class_share_a_rate_limit_equally(mock_upstream, start_gateway, redis_url, redis_prefix) -> None:
    gateway = start_gateway(_config(mock_upstream, _limits(), redis_url, redis_prefix))
    _drain(redis_url, redis_prefix)
    a: list[float] = []
    b: list[float] = []
    # Four times as many clients for tenant a: first come, first served would give it 80%.
    asyncio.run(asyncio.wait_for(_clients(gateway.url, [
        ("sk-tenant-a", {}, 12, 0.0, a),
        ("sk-tenant-b", {}, 3, 0.0, b),
    ], 3.0), 60))
    assert len(a) + len(b) >= 30, (len(a), len(b))
    assert abs(len(a) - len(b)) <= 0.1 * max(len(a), len(b)), (len(a), len(b))


def test_min_share_keeps_the_low_class_from_starving(mock_upstream, start_gateway, redis_url, redis_prefix) -> None:
    gateway = start_gateway(_config(mock_upstream, _limits(min_share=0.25), redis_url, redis_prefix))
    _drain(redis_url, redis_prefix)
    high: list[float] = []
    low: list[float] = []
    # The high class alone would take every refill.
    asyncio.run(asyncio.wait_for(_clients(gateway.url, [
        ("sk-gold", {}, 6, 0.0, high),
        ("sk-tenant-a", {"x-switchyard-priority": "low"}, 3, 0.0, low),
    ], 3.0), 60))
    total = len(high) + len(low)
    assert total >= 30, (len(high), len(low))
    # min_share 0.25: about one refill in four goes to the waiting low class.
    assert 0.15 * total <= len(low) <= 0.4 * total, (len(high), len(low))


def test_a_disconnect_while_waiting_on_a_limit_frees_the_place(mock_upstream, start_gateway) -> None:
    # In memory: two requests, then room again a minute later; one place to wait.
    limits = {"rules": [{"scope": "global", "rpm": 2}], "queue": {"max_wait": 120, "max_size": 1}}
    gateway = start_gateway(_config(mock_upstream, limits))

    async def waiting(session) -> int:
        async with session.get(gateway.url + "/health/ready", headers={"authorization": "Bearer sk-tenant-a"}) as r:
            return (await r.json())["admission"]["limit_queue"]["waiting"]

    async def until(session, value: int) -> None:
        deadline = time.monotonic() + 10
        while await waiting(session) != value:
            assert time.monotonic() < deadline, "the limit queue never reached the expected size"
            await asyncio.sleep(0.01)

    async def run():
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                assert (await _call(session, gateway.url, "sk-tenant-a"))[0] == 200
            queued = _raw_request(gateway.url, "sk-tenant-b")
            await until(session, 1)
            # The one place is taken: the next request is refused at once, with Retry-After.
            async with session.post(gateway.url + "/v1/chat/completions",
                                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                                    headers={"authorization": "Bearer sk-gold"}) as r:
                full = (r.status, r.headers.get("retry-after"), (await r.json())["error"]["code"])
            queued.close()
            await until(session, 0)
            return full

    status, retry_after, code = asyncio.run(asyncio.wait_for(run(), 30))
    assert (status, code) == (429, "queue_full")
    assert retry_after is not None and int(retry_after) >= 1
    assert mock_upstream.count("/v1/chat/completions") == 2  # the one that left never went upstream
