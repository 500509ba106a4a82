"""Section ``throughput``: RPS and latency, direct to the mock and through the gateway.

Non-streaming and streaming (the mock's 20-delta streams: time to first byte
and to the last byte), at each concurrency; plus the gateway's RSS before and
after load, the latency it adds at concurrency 1, and the gateway's CPU time
per request at the top concurrency (steadier than req/s on a shared machine).
"""

from __future__ import annotations

import orjson

from bench.harness import Context, Figure, Row, SectionResult
from bench.loadgen import Call, LoadResult, run_load
from bench.processes import cpu_seconds, rss_mb
from switchyard.mock.runner import new_event_loop

PROMPT = "Benchmark prompt: the quick brown fox jumps over the lazy dog, twice over."
TARGET_RPS = {"plain": 3000.0, "stream": 2000.0}
TARGET_ADDED_P50_MS = 1.0
TARGET_IDLE_RSS_MB = 80.0


def calls(ctx: Context, target: str) -> dict[str, Call]:
    """The non-streaming and streaming request for ``target`` ("direct" or "gateway")."""
    if target == "direct":
        url, key, model = f"{ctx.mock_url}/v1/chat/completions", "sk-upstream", "gpt-4o-mini"
    else:
        url, key, model = f"{ctx.gateway_url}/v1/chat/completions", ctx.master_key, ctx.model
    headers = (("content-type", "application/json"), ("authorization", f"Bearer {key}"))
    message = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    return {
        "plain": Call(url, orjson.dumps(message), headers),
        "stream": Call(url, orjson.dumps({**message, "stream": True}), headers, stream=True),
    }


def _row(target: str, mode: str, result: LoadResult) -> Row:
    ms = 1000.0
    streaming = mode == "stream"
    return Row(
        section="throughput",
        target=target,
        mode=mode,
        concurrency=result.concurrency,
        rps=result.rps,
        p50_ms=result.percentile(50) * ms,
        p99_ms=result.percentile(99) * ms,
        ttft_p50_ms=result.percentile(50, first_byte=True) * ms if streaming else None,
        ttft_p99_ms=result.percentile(99, first_byte=True) * ms if streaming else None,
        ok=result.ok,
        errors=result.errors,
        error_sample=result.error_sample,
    )


def measure(ctx: Context, target: str, cpu: dict[str, float] | None = None) -> list[Row]:
    """The rows of ``target``; ``cpu`` (gateway only) gets the CPU µs per request of each
    mode at the top concurrency."""
    rows = []
    pid = ctx.gateway_pid
    cpu_of = (lambda: cpu_seconds(pid)) if cpu is not None and pid is not None else None  # noqa: E731
    loop = new_event_loop()
    try:
        for mode, call in calls(ctx, target).items():
            for concurrency in ctx.concurrencies:
                result = loop.run_until_complete(
                    run_load(call, concurrency=concurrency, duration=ctx.duration, max_requests=ctx.max_requests,
                             warmup=ctx.warmup, cpu_of=cpu_of)
                )
                rows.append(_row(target, mode, result))
                if cpu is not None and result.target_cpu is not None and result.ok:
                    cpu[f"{mode}@{concurrency}"] = result.target_cpu / result.ok * 1e6
    finally:
        loop.close()
    return rows


def throughput(ctx: Context) -> SectionResult:
    out = SectionResult()
    out.rows += measure(ctx, "direct")
    if ctx.gateway_url is None or ctx.gateway_pid is None:
        return out
    idle = rss_mb(ctx.gateway_pid)
    out.figures.append(Figure("gateway RSS idle", idle, "MB", f"<= {TARGET_IDLE_RSS_MB:g} MB", idle <= TARGET_IDLE_RSS_MB))
    cpu: dict[str, float] = {}
    gateway_rows = measure(ctx, "gateway", cpu)
    out.rows += gateway_rows
    loaded = rss_mb(ctx.gateway_pid)
    out.figures.append(Figure("gateway RSS after load", loaded, "MB", "flat", None))
    top = max(ctx.concurrencies)
    for mode, target_rps in TARGET_RPS.items():
        row = next((r for r in gateway_rows if r.mode == mode and r.concurrency == top), None)
        if row is not None:
            out.figures.append(Figure(f"gateway {mode} RPS at c{top}", row.rps, "req/s", f">= {target_rps:,.0f}", row.rps >= target_rps))
    for mode in TARGET_RPS:
        per = cpu.get(f"{mode}@{top}")
        if per is not None:
            out.figures.append(Figure(f"gateway CPU per {mode} request c{top}", per, "µs", "lower is better", None))
    if 1 in ctx.concurrencies:
        direct = next(r for r in out.rows if r.target == "direct" and r.mode == "plain" and r.concurrency == 1)
        through = next(r for r in gateway_rows if r.mode == "plain" and r.concurrency == 1)
        added = through.p50_ms - direct.p50_ms
        out.figures.append(Figure("added p50 at c1", added, "ms", f"<= {TARGET_ADDED_P50_MS:g} ms", added <= TARGET_ADDED_P50_MS))
    return out
