"""Section ``responses``: the Responses API beside chat completions on the fake provider.

One gateway, the built-in ``fake`` provider (no upstream: what is measured is the
gateway alone), non-streaming: ``POST /v1/chat/completions``, ``POST /v1/responses``
with ``store: false`` and with ``store: true`` (the default; stored in memory), in
short interleaved rounds at c1 and c16 so a shared machine's drift hits all alike.
Prints each one's median req/s and p50, and the p50 the Responses API adds at c1
over chat completions (the translation both ways, and the store's write).
"""

from __future__ import annotations

import statistics

import orjson

from bench.harness import Context, Figure, Row, SectionResult
from bench.loadgen import Call, run_load
from bench.throughput import PROMPT
from switchyard.mock.runner import new_event_loop

FAKE_MODEL = "fake-echo"

def responses_calls(ctx: Context) -> dict[str, Call]:
    headers = (("content-type", "application/json"), ("authorization", f"Bearer {ctx.master_key}"))
    chat = {"model": FAKE_MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    created = {"model": FAKE_MODEL, "input": PROMPT}
    return {
        "chat": Call(f"{ctx.gateway_url}/v1/chat/completions", orjson.dumps(chat), headers),
        "responses": Call(f"{ctx.gateway_url}/v1/responses", orjson.dumps({**created, "store": False}), headers),
        "resp+store": Call(f"{ctx.gateway_url}/v1/responses", orjson.dumps(created), headers),
    }


def responses(ctx: Context) -> SectionResult:
    out = SectionResult()
    if ctx.gateway_url is None:
        return out
    rounds = 1 if ctx.duration < 1 else 4
    seconds = max(ctx.duration / 2, 0.5)
    measured: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    loop = new_event_loop()
    try:
        for _ in range(rounds):
            for concurrency in (1, 16):
                for name, call in responses_calls(ctx).items():
                    result = loop.run_until_complete(run_load(call, concurrency=concurrency, duration=seconds,
                                                              max_requests=ctx.max_requests, warmup=ctx.warmup / 2))
                    if result.errors:
                        ctx.notes.append(f"responses: {name} c{concurrency}: {result.errors} errors "
                                         f"({result.error_sample})")
                    measured.setdefault((name, concurrency), []).append(
                        (result.rps, result.percentile(50) * 1000, result.percentile(99) * 1000))
    finally:
        loop.close()
    for (name, concurrency), runs in measured.items():
        out.rows.append(Row("responses", name, "plain", concurrency, statistics.median(r[0] for r in runs),
                            statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs)))
    chat = next(r for r in out.rows if r.target == "chat" and r.concurrency == 1)
    for name in ("responses", "resp+store"):
        row = next(r for r in out.rows if r.target == name and r.concurrency == 1)
        added = row.p50_ms - chat.p50_ms
        out.figures.append(Figure(f"{name}: added p50 at c1", added, "ms", "(shown)", None))
        top = next(r for r in out.rows if r.target == name and r.concurrency == 16)
        chat16 = next(r for r in out.rows if r.target == "chat" and r.concurrency == 16)
        out.figures.append(Figure(f"{name}: req/s c16 / chat", top.rps / chat16.rps * 100, "%", "(shown)", None))
    return out
