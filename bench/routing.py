"""Routing decision overhead, in-process: ``python -m bench.routing`` or the
``routing`` section of ``python -m bench.run``.

For each strategy, a group of 100 deployments (fake provider, no network) with
varied prices, limits and load; times ``Router.candidates`` (capability check,
health filter, balancing, region order) per request and reports p50/p99 in
microseconds against the 50 µs target. Also: the default single-deployment
group, a stickiness lookup (memory table) and a table of routing rules.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import time
from typing import Any

from bench.harness import Context, Figure, SectionResult
from switchyard.core.call import Call
from switchyard.core.config import parse_config
from switchyard.core.messages import validate_chat
from switchyard.core.registry import Registry
from switchyard.gateway.services import Services

DEPLOYMENTS = 100
TARGET_US = 50.0
STRATEGIES = ("round_robin", "weighted", "least_busy", "latency", "cost", "headroom")
BODY = {"model": "", "messages": [{"role": "system", "content": "You are terse."},
                                  {"role": "user", "content": "Summarise the plot of Hamlet in two sentences."}]}


def _group(strategy: str, name: str | None = None) -> dict[str, Any]:
    rng = random.Random(7)
    deployments = []
    for i in range(DEPLOYMENTS):
        deployments.append({
            "provider": "fake", "model": "gpt-4o-mini" if i % 2 else "echo", "id": f"{name or strategy}-{i}",
            "weight": rng.choice([1, 2, 5]), "region": rng.choice(["eu", "us"]),
            "rpm": rng.choice([600, 6000]), "tpm": rng.choice([100_000, 1_000_000]),
            "price": {"input": rng.uniform(0.1, 5), "output": rng.uniform(0.4, 15)},
        })
    return {"strategy": strategy, "deployments": deployments}


def config() -> Any:
    models = {s: _group(s) for s in STRATEGIES}
    models["single"] = {"deployments": [{"provider": "fake", "model": "gpt-4o-mini"}]}
    models["sticky"] = _group("round_robin", "sticky")
    models["ruled"] = _group("round_robin", "ruled")
    rules = [{"name": f"r{i}", "when": {"keywords": [f"word{i}"], "metadata": {"tenant": f"t{i}"}}, "route": "single"}
             for i in range(20)]
    return parse_config({"models": models, "routing": {"rules": rules, "sticky": {}}})


def _percentiles(samples: list[int]) -> tuple[float, float]:
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


async def measure(iterations: int = 20_000) -> list[tuple[str, float, float]]:
    """``(case, p50 µs, p99 µs)`` for each case."""
    services = await Services.start(config(), Registry())
    router, catalog = services.router, services.catalog
    rng = random.Random(3)
    for group in catalog.groups.values():  # some load history, as if traffic had flowed
        for d in group.deployments:
            d.load.inflight = rng.randrange(0, 8)
            d.load.observe(latency=rng.uniform(0.2, 2.0), ttft=rng.uniform(0.05, 0.5))
            d.load.count(time.monotonic(), rng.randrange(0, 500), rng.randrange(0, 80_000))
    results = []
    clock = time.perf_counter_ns
    try:
        cases = [*STRATEGIES, "single", "sticky", "ruled"]
        for case in cases:
            group = catalog.resolve(case)
            request = validate_chat({**BODY, "model": case, "user": "session-42"})
            samples = []
            gc.collect()
            for _ in range(iterations):
                call = Call("bench")
                if case == "sticky":
                    start = clock()
                    chosen = await router.order(group, request, call)
                elif case == "ruled":
                    start = clock()
                    router.route(case, request, call)
                    chosen = router.candidates(group, request, call)
                else:
                    start = clock()
                    chosen = router.candidates(group, request, call)
                samples.append(clock() - start)
                assert chosen
            p50, p99 = _percentiles(samples)
            label = {"single": "default (1 deployment)", "sticky": "round_robin + sticky",
                     "ruled": "round_robin + 20 rules"}.get(case, case)
            results.append((label, p50, p99))
    finally:
        await services.aclose()
    return results


def routing(ctx: Context | None = None) -> SectionResult:
    """The benchmark section: one figure per case (p99, µs)."""
    quick = ctx is not None and ctx.duration < 1
    rows = asyncio.run(measure(3_000 if quick else 20_000))
    result = SectionResult()
    for label, p50, p99 in rows:
        result.figures.append(Figure(f"route {label} p99", p99, "µs", f"<= {TARGET_US:.0f} µs (p50 {p50:.1f})",
                                     p99 <= TARGET_US))
    return result


def main() -> int:
    print(f"routing decision overhead, {DEPLOYMENTS} deployments per group (in-process)")
    print(f"{'case':28} {'p50 µs':>8} {'p99 µs':>8}")
    for label, p50, p99 in asyncio.run(measure()):
        verdict = "ok" if p99 <= TARGET_US else "MISSED"
        print(f"{label:28} {p50:8.1f} {p99:8.1f}   target p99 <= {TARGET_US:.0f} µs {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
