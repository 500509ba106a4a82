"""The admission queue end to end: classes, fair shares between tenants, disconnects."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from typing import Any

import aiohttp
import orjson

from tests.admission.test_limits_e2e import _config


def _queue_limits(concurrency: int, **queue: Any) -> dict[str, Any]:
    return {"priority": {"tiers": {"gold": "high"}, "min_share": 0.05},
            "queue": {"concurrency": concurrency, "max_wait": 30, **queue}}


async def _call(session: aiohttp.ClientSession, url: str, key: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with session.post(url + "/v1/chat/completions", json=body,
                            headers={"authorization": f"Bearer {key}", **(headers or {})}) as r:
        await r.read()
        return r.status, float(r.headers.get("x-switchyard-queued-ms", 0))


def test_high_class_waits_little_while_low_absorbs_the_queueing(mock_upstream, start_gateway) -> None:
    gateway = start_gateway(_config(mock_upstream, _queue_limits(2)))
    mock_upstream.set_faults(latency_ms=15)
    slow: dict[str, str] = {}

    async def client(session, key, extra, waits, stop_at):
        for _ in range(200):
            if time.monotonic() >= stop_at:
                return
            status, waited = await _call(session, gateway.url, key, {**slow, **extra})
            assert status == 200
            waits.append(waited)

    async def run():
        high: list[float] = []
        low: list[float] = []
        stop_at = time.monotonic() + 2.5
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(client(session, "sk-gold", {}, high, stop_at) for _ in range(4)),
                # The header lowers this key's class (normal -> low); it can never raise one.
                *(client(session, "sk-tenant-a", {"x-switchyard-priority": "low"}, low, stop_at) for _ in range(8)),
            )
        return high, low

    high, low = asyncio.run(asyncio.wait_for(run(), 60))
    high_p99 = sorted(high)[int(len(high) * 0.99) - 1]
    assert high_p99 < statistics.median(low), (high_p99, statistics.median(low))
    assert statistics.mean(low) > 3 * max(statistics.mean(high), 5.0)


def test_tenants_of_one_class_share_equally(mock_upstream, start_gateway) -> None:
    gateway = start_gateway(_config(mock_upstream, _queue_limits(2)))
    mock_upstream.set_faults(latency_ms=10)
    counts = {"sk-tenant-a": 0, "sk-tenant-b": 0}

    async def client(session, key, stop_at):
        while time.monotonic() < stop_at:
            status, _ = await _call(session, gateway.url, key)
            assert status == 200
            counts[key] += 1

    async def run():
        stop_at = time.monotonic() + 3.0
        async with aiohttp.ClientSession() as session:
            # Four times as many clients for tenant a: FIFO would give it 80%.
            await asyncio.gather(*(client(session, "sk-tenant-a", stop_at) for _ in range(12)),
                                 *(client(session, "sk-tenant-b", stop_at) for _ in range(3)))

    asyncio.run(asyncio.wait_for(run(), 60))
    a, b = counts["sk-tenant-a"], counts["sk-tenant-b"]
    assert a + b > 40
    assert abs(a - b) <= 0.1 * max(a, b), counts


def _raw_request(url: str, key: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 + f"authorization: Bearer {key}\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def test_a_disconnect_while_queued_frees_the_place(mock_upstream, start_gateway) -> None:
    gateway = start_gateway(_config(mock_upstream, _queue_limits(1, max_size=1)))

    async def waiting(session) -> int:
        async with session.get(gateway.url + "/health/ready", headers={"authorization": "Bearer sk-tenant-a"}) as r:
            return (await r.json())["admission"]["queue"]["waiting"]

    async def until(session, value: int) -> None:
        deadline = time.monotonic() + 10
        while await waiting(session) != value:
            assert time.monotonic() < deadline, "queue never reached the expected size"
            await asyncio.sleep(0.01)

    async def run():
        async with aiohttp.ClientSession() as session:
            mock_upstream.set_faults(latency_ms=1500, count=1)
            first = asyncio.ensure_future(_call(session, gateway.url, "sk-tenant-a"))
            deadline = time.monotonic() + 10
            while mock_upstream.count("/v1/chat/completions") < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            queued = _raw_request(gateway.url, "sk-tenant-b")
            await until(session, 1)
            # The queue is full: a third request is refused at once.
            status, _ = await _call(session, gateway.url, "sk-tenant-b")
            assert status == 429
            queued.close()
            await until(session, 0)
            third = await _call(session, gateway.url, "sk-tenant-b")
            return await first, third

    first, third = asyncio.run(asyncio.wait_for(run(), 30))
    assert first[0] == 200 and third[0] == 200
    assert third[1] > 0  # it waited in the place the disconnected request left
    assert mock_upstream.count("/v1/chat/completions") == 2  # the disconnected one never went upstream
