"""Admission overhead, in-process: ``python -m bench.admission`` or the ``admission``
section of ``python -m bench.run``.

Times ``admit`` + ``settle`` per request (what admission adds to the request
path) for: no limits (``OpenAdmission``); key rpm + tenant tpm/tpd + model tpm
in memory, with the sliding window (the default) and with GCRA; the same with the concurrency queue (never full); the same limits
in Redis on loopback (``SWITCHYARD_BENCH_REDIS``, default
``redis://127.0.0.1:6379/0``; skipped when none answers). Targets: p50 ≤ 100 µs
in memory, ≤ 1 ms with Redis.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import uuid
from typing import Any

from bench.harness import Context, Figure, SectionResult
from switchyard.auth import Caller
from switchyard.core.call import Call
from switchyard.core.config import parse_config
from switchyard.core.messages import Usage, validate_chat
from switchyard.core.registry import Registry
from switchyard.gateway.services import Services

TARGETS_US = {"memory": 100.0, "redis": 1000.0}
BODY = {"model": "m", "max_tokens": 64,
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Summarise the plot of Hamlet in two sentences."}]}
RULES = [{"scope": "key", "rpm": 10_000_000}, {"scope": "tenant", "tpm": 10**12, "tpd": 10**13},
         {"scope": "model", "tpm": 10**12}]
CALLER = Caller(name="bench-key", tenant="bench-tenant", tier=None)


def _config(limits: dict[str, Any] | None, redis_url: str | None = None) -> Any:
    raw: dict[str, Any] = {"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}}
    if limits is not None:
        raw["limits"] = limits
    if redis_url is not None:
        raw["redis"] = {"url": redis_url, "prefix": f"bench:{uuid.uuid4().hex[:8]}:"}
    return parse_config(raw)


async def _measure(config: Any, iterations: int) -> tuple[float, float]:
    services = await Services.start(config, Registry())
    try:
        admission = services.admission.admission
        group = services.catalog.resolve("m")
        request = validate_chat(dict(BODY))
        usage = Usage(prompt_tokens=30, completion_tokens=40)
        clock = time.perf_counter_ns
        samples = []
        for _ in range(min(200, iterations)):  # warm up: tokenizer load, connections, scripts
            ticket = await admission.admit(request, group, Call("warm", caller=CALLER))
            await ticket.settle(usage)
        gc.collect()
        for _ in range(iterations):
            call = Call("bench", caller=CALLER)
            start = clock()
            ticket = await admission.admit(request, group, call)
            await ticket.settle(usage)
            samples.append(clock() - start)
    finally:
        await services.aclose()
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def _redis_url() -> str | None:
    url = os.environ.get("SWITCHYARD_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:
        return None
    return url


async def measure(iterations: int = 5_000) -> list[tuple[str, str, float, float]]:
    """``(case, backend, p50 µs, p99 µs)``."""
    gcra = {"rules": RULES, "algorithm": "gcra"}
    cases: list[tuple[str, str, Any]] = [
        ("no limits (open)", "memory", _config(None)),
        ("3 rules, 4 buckets", "memory", _config({"rules": RULES})),
        ("3 rules, 4 buckets gcra", "memory", _config(gcra)),
        ("3 rules + queue", "memory", _config({"rules": RULES, "queue": {"concurrency": 1000}})),
    ]
    url = _redis_url()
    if url is not None:
        cases.append(("3 rules, 4 buckets", "redis", _config({"backend": "redis", "rules": RULES}, url)))
        cases.append(("3 rules, 4 buckets gcra", "redis", _config({"backend": "redis", **gcra}, url)))
    out = []
    for label, backend, config in cases:
        p50, p99 = await _measure(config, iterations if backend == "memory" else max(500, iterations // 5))
        out.append((label, backend, p50, p99))
    return out


def admission(ctx: Context | None = None) -> SectionResult:
    """The benchmark section: p50 per case against its target."""
    quick = ctx is not None and ctx.duration < 1
    result = SectionResult()
    rows = asyncio.run(measure(1_000 if quick else 5_000))
    for label, backend, p50, p99 in rows:
        target = TARGETS_US[backend]
        result.figures.append(Figure(f"admit {label} [{backend}] p50", p50, "µs",
                                     f"<= {target:.0f} µs (p99 {p99:.1f})", p50 <= target))
    if ctx is not None and not any(b == "redis" for _, b, _, _ in rows):
        ctx.notes.append("admission: no Redis answered (SWITCHYARD_BENCH_REDIS); the Redis row was skipped")
    return result


def main() -> int:
    print("admission overhead per request (admit + settle, in-process)")
    print(f"{'case':28} {'backend':8} {'p50 µs':>8} {'p99 µs':>8}")
    for label, backend, p50, p99 in asyncio.run(measure()):
        target = TARGETS_US[backend]
        print(f"{label:28} {backend:8} {p50:8.1f} {p99:8.1f}   target p50 <= {target:.0f} µs "
              f"{'ok' if p50 <= target else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
