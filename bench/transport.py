"""Client cost: aiohttp's ClientSession against ``switchyard.transport.HttpClient``.

``python -m bench.transport [--duration S]``: the mock on core 1, the client
alone on core 0, concurrency 64, non-streaming chat completions; the higher the
req/s, the less the client costs the gateway per request.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import orjson

from bench.processes import free_port, mock_process, pin
from switchyard.mock.runner import new_event_loop
from switchyard.transport import HttpClient

BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello to the benchmark, " * 8}]})
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


async def _loop_for(duration: float, concurrency: int, one) -> float:
    done = 0
    stop = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await one()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def measure_aiohttp(url: str, duration: float, concurrency: int) -> float:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as resp:
                await resp.read()
                assert resp.status == 200

        await _loop_for(0.3, concurrency, one)
        return await _loop_for(duration, concurrency, one)


async def measure_switchyard(url: str, duration: float, concurrency: int) -> float:
    async with HttpClient(max_connections_per_origin=concurrency) as client:
        async def one() -> None:
            resp = await client.request("POST", url, headers=HEADERS, body=BODY, timeout=10)
            assert resp.status == 200

        await _loop_for(0.3, concurrency, one)
        return await _loop_for(duration, concurrency, one)


def compare(duration: float = 3.0, concurrency: int = 64) -> dict[str, float]:
    """Req/s of each client against a pinned mock."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, mock_process(port, core=1, log=Path(tmp) / "mock.log"):
        pin(0, 0)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        results = {}
        for name, fn in (("aiohttp.ClientSession", measure_aiohttp), ("switchyard HttpClient", measure_switchyard)):
            loop = new_event_loop()
            try:
                results[name] = loop.run_until_complete(fn(url, duration, concurrency))
            finally:
                loop.close()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    for name, rps in compare(args.duration, args.concurrency).items():
        print(f"{name:24s} {rps:10,.0f} req/s")


if __name__ == "__main__":
    main()
