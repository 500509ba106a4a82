"""The load generator: N workers, one keep-alive connection each, bounded by count and time.

It reuses ``switchyard.transport.HttpClient`` (one pool, ``max_connections =
concurrency``), which on one core drives the mock at well over twice the
gateway's target, so the generator is not what a gateway figure measures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from switchyard.transport import HttpClient


@dataclass(frozen=True, slots=True)
class Call:
    """One request the workers repeat."""

    url: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    stream: bool = False
    method: str = "POST"
    #: Makes each request's body instead of ``body`` (e.g. a new prompt each time: cache misses).
    bodies: Callable[[], bytes] | None = None


@dataclass(slots=True)
class LoadResult:
    """What one load run measured; latencies in seconds."""

    concurrency: int
    elapsed: float = 0.0
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    first_byte: list[float] = field(default_factory=list)
    error_sample: str | None = None
    #: CPU seconds the target process spent during the measured run (when asked for).
    target_cpu: float | None = None

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float, *, first_byte: bool = False) -> float:
        values = sorted(self.first_byte if first_byte else self.latencies)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def run_load(
    call: Call,
    *,
    concurrency: int,
    duration: float,
    max_requests: int = 1_000_000,
    warmup: float = 0.0,
    timeout: float = 30.0,
    cpu_of: Callable[[], float] | None = None,
) -> LoadResult:
    """Send ``call`` from ``concurrency`` workers until ``duration`` s or ``max_requests``.

    A warm-up of ``warmup`` seconds opens the connections and is not counted.
    ``cpu_of()``: the target process's CPU seconds so far, to charge the run with
    (a figure that noise on a shared machine moves far less than req/s).
    """
    async with HttpClient(max_connections_per_origin=concurrency) as client:
        if warmup > 0:
            await _drive(client, call, concurrency, warmup, max_requests, timeout, LoadResult(concurrency))
        result = LoadResult(concurrency)
        before = cpu_of() if cpu_of is not None else 0.0
        await _drive(client, call, concurrency, duration, max_requests, timeout, result)
        if cpu_of is not None:
            result.target_cpu = cpu_of() - before
        return result


async def _drive(
    client: HttpClient, call: Call, concurrency: int, duration: float, max_requests: int, timeout: float, result: LoadResult
) -> None:
    budget = [max_requests]
    start = time.perf_counter()
    stop_at = start + duration
    workers = [_worker(client, call, stop_at, budget, timeout, result) for _ in range(concurrency)]
    await asyncio.gather(*workers)
    result.elapsed = time.perf_counter() - start


async def _worker(
    client: HttpClient, call: Call, stop_at: float, budget: list[int], timeout: float, result: LoadResult
) -> None:
    clock = time.perf_counter
    latencies, first_bytes = result.latencies, result.first_byte
    bodies = call.bodies
    while budget[0] > 0:
        budget[0] -= 1
        t0 = clock()
        if t0 >= stop_at:
            return
        body = call.body if bodies is None else bodies()
        try:
            if call.stream:
                first = 0.0
                async with client.stream(call.method, call.url, headers=call.headers, body=body, timeout=timeout) as resp:
                    async for _ in resp.aiter_bytes(idle_timeout=timeout):
                        if not first:
                            first = clock()
                status = resp.status
            else:
                resp = await client.request(call.method, call.url, headers=call.headers, body=body, timeout=timeout)
                status = resp.status
        except Exception as exc:  # a benchmark counts failures, it does not stop on them
            result.errors += 1
            result.error_sample = result.error_sample or repr(exc)
            continue
        end = clock()
        if status != 200:
            result.errors += 1
            result.error_sample = result.error_sample or f"HTTP {status}"
            continue
        result.ok += 1
        latencies.append(end - t0)
        if call.stream:
            first_bytes.append((first or end) - t0)
