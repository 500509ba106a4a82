"""Section ``cache``: what the response cache costs and serves. ``python -m bench.run --section cache``.

- **hit, in the stage**: the cache stage answering an exact hit, in process (the work a hit
  adds: key, partition, lookup, the answer rebuilt), p50 with the entry in memory and in Redis
  on loopback (``SWITCHYARD_BENCH_REDIS``, default ``redis://127.0.0.1:6379/0``); targets
  ≤ 0.3 ms and ≤ 1 ms;
- **served from the cache**: a gateway answering the same request over and over, c1 p50 and
  c64 req/s, memory and Redis;
- **a miss**: side by side, the same gateway without ``cache:`` and with it (memory), every
  request a new prompt (so every one a miss, kept, later evicted), interleaved c64 rounds:
  req/s and CPU per request; target ≥ 97% of the req/s without;
- **a follower on another replica**: two gateways on one Redis; a stream opened at one, the
  same request at the other a moment later: how much later each chunk reaches the follower than
  the leader (p50 over chunks and rounds); and the same for unary answers asked at both at once.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import orjson
import yaml

from bench.harness import Context, Figure, Row, SectionResult
from bench.loadgen import Call as Load
from bench.loadgen import run_load
from bench.processes import Process, cpu_seconds, free_port
from switchyard.mock.runner import new_event_loop

PROMPT = "Benchmark prompt: the quick brown fox jumps over the lazy dog, twice over."
HIT_TARGET_MS = {"memory": 0.3, "redis": 1.0}
MISS_TARGET = 0.97
MODEL = "cached"


def _redis_url() -> str | None:
    url = os.environ.get("SWITCHYARD_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:
        return None
    return url


def _config(mock_url: str, key: str, cache: dict[str, Any] | None, redis_url: str | None = None,
            prefix: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    deployment = {"provider": "openai", "model": "gpt-4o-mini", "base_url": mock_url + "/v1", "api_key": "sk-upstream"}
    if headers:
        deployment["headers"] = headers
    alias: dict[str, Any] = {"deployments": [deployment]}
    config: dict[str, Any] = {"auth": {"master_key": key}, "logging": {"access_log": False}, "models": {MODEL: alias}}
    if cache is not None:
        alias["cache"] = {}
        config["cache"] = cache
    if redis_url is not None:
        config["redis"] = {"url": redis_url, "prefix": prefix or f"bench:{uuid.uuid4().hex[:8]}:"}
    return config


# -- a hit, in the stage ----------------------------------------------------------------------------------
async def _stage_hit(redis_url: str | None, iterations: int) -> tuple[float, float]:
    """p50 and p99 (ms) of the cache stage answering a hit, in process."""
    from switchyard.auth import Caller
    from switchyard.core.call import Call
    from switchyard.core.config import parse_config
    from switchyard.core.messages import validate_chat
    from switchyard.core.registry import Registry
    from switchyard.gateway.services import Services

    cache: dict[str, Any] = {"backend": "redis"} if redis_url else {}
    raw = {"models": {MODEL: {"cache": {}, "deployments": [{"provider": "fake", "model": "echo"}]}}, "cache": cache}
    if redis_url:
        raw["redis"] = {"url": redis_url, "prefix": f"bench:{uuid.uuid4().hex[:8]}:"}
    services = await Services.start(parse_config(raw), Registry())
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}
        caller = Caller("bench", tenant="acme")
        await services.pipeline.chat(validate_chat(dict(body)), Call("warm", caller=caller))
        stage = services.cache
        assert stage is not None
        await stage.flushed()
        group = services.catalog.resolve(MODEL)

        async def upstream(call: Any) -> Any:
            raise AssertionError("a hit never goes upstream")

        samples = []
        clock = time.perf_counter_ns
        gc.collect()
        for _ in range(iterations):
            call = Call("bench", request=validate_chat(dict(body)), caller=caller)
            call.group = group
            start = clock()
            await stage.unary(call, upstream)
            samples.append(clock() - start)
            assert call.cached
    finally:
        await services.aclose()
    samples.sort()
    return samples[len(samples) // 2] / 1e6, samples[int(len(samples) * 0.99)] / 1e6


# -- gateways ---------------------------------------------------------------------------------------------
@contextmanager
def _gateways(ctx: Context, configs: dict[str, dict[str, Any]]) -> Iterator[dict[str, Process]]:
    from bench.run import gateway_command

    command = gateway_command()
    if command is None:
        raise RuntimeError("`switchyard` is not installed in this venv")
    with ExitStack() as stack:
        out = {}
        for name, config in configs.items():
            path = ctx.workdir / f"cache-{name}.yaml"
            path.write_text(yaml.safe_dump(config))
            port = free_port()
            out[name] = stack.enter_context(Process(
                [*command, "serve", "--config", str(path), "--host", "127.0.0.1", "--port", str(port)], core=0,
                ready_url=f"http://127.0.0.1:{port}/health/ready", log=ctx.workdir / f"cache-{name}.log"))
        yield out


def _load(url: str, key: str, *, fresh: bool = False, stream: bool = False) -> Load:
    headers = (("content-type", "application/json"), ("authorization", f"Bearer {key}"))
    message = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}
    if stream:
        message["stream"] = True
    bodies = None
    if fresh:
        counter = itertools.count()
        run = uuid.uuid4().hex[:6]

        def bodies() -> bytes:
            return orjson.dumps({**message, "messages": [{"role": "user", "content": f"{PROMPT} {run}-{next(counter)}"}]})
    return Load(f"{url}/v1/chat/completions", orjson.dumps(message), headers, stream=stream, bodies=bodies)


def _served(ctx: Context, redis_url: str | None, result: SectionResult) -> None:
    configs = {"memory": _config(ctx.mock_url, ctx.master_key, {})}
    if redis_url:
        configs["redis"] = _config(ctx.mock_url, ctx.master_key, {"backend": "redis"}, redis_url)
    loop = new_event_loop()
    try:
        with _gateways(ctx, configs) as gateways:
            for name, gateway in gateways.items():
                call = _load(gateway.url, ctx.master_key)
                single = loop.run_until_complete(run_load(call, concurrency=1, duration=ctx.duration / 2,
                                                          warmup=ctx.warmup, max_requests=ctx.max_requests))
                many = loop.run_until_complete(run_load(call, concurrency=64, duration=ctx.duration,
                                                        warmup=ctx.warmup, max_requests=ctx.max_requests,
                                                        cpu_of=lambda pid=gateway.pid: cpu_seconds(pid)))
                result.rows.append(Row("cache", f"hit/{name}", "plain", 1, single.rps, single.percentile(50) * 1000,
                                       single.percentile(99) * 1000, ok=single.ok, errors=single.errors,
                                       error_sample=single.error_sample))
                result.rows.append(Row("cache", f"hit/{name}", "plain", 64, many.rps, many.percentile(50) * 1000,
                                       many.percentile(99) * 1000, ok=many.ok, errors=many.errors,
                                       error_sample=many.error_sample))
                cpu = many.target_cpu / many.ok * 1e6 if many.ok and many.target_cpu else float("nan")
                result.figures.append(Figure(f"served from cache [{name}] c64", many.rps, "req/s",
                                             f"(shown; CPU {cpu:.0f} µs/request)", None))
    finally:
        loop.close()


def _miss(ctx: Context, result: SectionResult) -> None:
    """Side by side: no cache, and every request a miss with the cache on."""
    configs = {"off": _config(ctx.mock_url, ctx.master_key, None),
               "on": _config(ctx.mock_url, ctx.master_key, {"max_bytes": 16 * 1024 * 1024})}
    rounds = 1 if ctx.duration < 1 else 5
    seconds = max(ctx.duration / 2, 0.5)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    loop = new_event_loop()
    try:
        with _gateways(ctx, configs) as gateways:
            for _ in range(rounds):
                for name, gateway in gateways.items():
                    load = loop.run_until_complete(run_load(
                        _load(gateway.url, ctx.master_key, fresh=True), concurrency=64, duration=seconds,
                        warmup=min(0.5, seconds), max_requests=10**7,
                        cpu_of=lambda pid=gateway.pid: cpu_seconds(pid)))
                    if load.ok and load.target_cpu is not None:
                        runs[name].append((load.rps, load.target_cpu / load.ok * 1e6))
    finally:
        loop.close()
    medians = {}
    for name, values in runs.items():
        if not values:
            ctx.notes.append(f"cache: no successful miss round for {name}")
            continue
        rps, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
        medians[name] = (rps, cpu)
        ctx.notes.append(f"cache miss, {name:3}: {rps:8,.0f} req/s (range {min(v[0] for v in values):,.0f}-"
                         f"{max(v[0] for v in values):,.0f})   CPU {cpu:5.0f} µs/request")
    if "off" in medians and "on" in medians:
        ratio = medians["on"][0] / medians["off"][0]
        result.figures.append(Figure("miss: cache on / off", ratio * 100, "% req/s", f">= {MISS_TARGET:.0%}",
                                     ratio >= MISS_TARGET))
        result.figures.append(Figure("miss: same, by CPU/request", medians["off"][1] / medians["on"][1] * 100, "%",
                                     "(shown)", None))


# -- a follower on another replica ------------------------------------------------------------------------
async def _follower_delays(leader: str, follower: str, key: str, rounds: int) -> tuple[list[float], list[float]]:
    """Per chunk, how much later the follower got it than the leader (s); per unary round, the same."""
    from switchyard.transport import HttpClient

    headers = (("content-type", "application/json"), ("authorization", f"Bearer {key}"))
    streams: list[float] = []
    unary: list[float] = []
    async with HttpClient(max_connections_per_origin=8) as client:
        async def read(url: str, body: bytes, delay: float) -> list[float]:
            await asyncio.sleep(delay)
            times: list[float] = []
            async with client.stream("POST", url + "/v1/chat/completions", headers=headers, body=body,
                                     timeout=30) as response:
                async for piece in response.aiter_bytes(idle_timeout=30):
                    now = time.perf_counter()
                    times.extend([now] * piece.count(b"data: "))
            return times

        async def ask(url: str, body: bytes) -> tuple[float, bool]:
            response = await client.request("POST", url + "/v1/chat/completions", headers=headers, body=body,
                                            timeout=30)
            assert response.status == 200, response.status
            return time.perf_counter(), response.headers.get("x-switchyard-coalesced") == "true"

        for _ in range(rounds):
            body = orjson.dumps({"model": MODEL, "stream": True, "temperature": 0,
                                 "messages": [{"role": "user", "content": f"{PROMPT} follow {uuid.uuid4().hex}"}]})
            led, followed = await asyncio.gather(read(leader, body, 0.0), read(follower, body, 0.05))
            if len(led) == len(followed):
                streams.extend(f - lead for lead, f in zip(led, followed, strict=True) if f >= lead)
            body = orjson.dumps({"model": MODEL, "temperature": 0,
                                 "messages": [{"role": "user", "content": f"{PROMPT} unary {uuid.uuid4().hex}"}]})
            (one, one_followed), (other, other_followed) = await asyncio.gather(ask(leader, body),
                                                                                 ask(follower, body))
            if one_followed != other_followed:  # which replica led is whichever claimed the call first
                unary.append(one - other if one_followed else other - one)
    return streams, unary


def _replicas(ctx: Context, redis_url: str, result: SectionResult) -> None:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    headers = {"x-mock-chunk-delay-ms": "20", "x-mock-latency-ms": "30"}
    config = _config(ctx.mock_url, ctx.master_key, {"backend": "redis"}, redis_url, prefix, headers)
    rounds = 3 if ctx.duration < 1 else 20
    loop = new_event_loop()
    try:
        with _gateways(ctx, {"a": config, "b": config}) as gateways:
            streams, unary = loop.run_until_complete(
                _follower_delays(gateways["a"].url, gateways["b"].url, ctx.master_key, rounds))
    finally:
        loop.close()
    if streams:
        result.figures.append(Figure("follower on another replica, per chunk p50", statistics.median(streams) * 1000,
                                     "ms", f"(shown; p90 {sorted(streams)[int(len(streams) * 0.9)] * 1000:.2f} ms)",
                                     None))
    if unary:
        result.figures.append(Figure("follower on another replica, unary p50", statistics.median(unary) * 1000, "ms",
                                     "(shown)", None))


def cache(ctx: Context) -> SectionResult:
    quick = ctx.duration < 1
    result = SectionResult()
    redis_url = _redis_url()
    for backend, url in (("memory", None), ("redis", redis_url)):
        if backend == "redis" and url is None:
            ctx.notes.append("cache: no Redis answered (SWITCHYARD_BENCH_REDIS); the Redis rows were skipped")
            continue
        p50, p99 = asyncio.run(_stage_hit(url, 1_000 if quick else 5_000))
        target = HIT_TARGET_MS[backend]
        result.figures.append(Figure(f"exact hit in the stage [{backend}] p50", p50, "ms",
                                     f"<= {target} ms (p99 {p99:.3f})", p50 <= target))
    _served(ctx, redis_url, result)
    _miss(ctx, result)
    if redis_url is not None:
        _replicas(ctx, redis_url, result)
    return result


def main() -> int:
    from bench.run import main as run

    return run(["--section", "cache", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
