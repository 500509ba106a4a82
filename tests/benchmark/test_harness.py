"""The benchmark's own pieces, run for a fraction of a second so they cannot rot."""

import os

import orjson

from bench.harness import Figure, Row
from bench.loadgen import Call, run_load
from bench.processes import rss_mb
from bench.run import format_table
from switchyard.mock import MockUpstream

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "twenty characters or more"}]}


async def test_load_generator_is_bounded_by_count():
    async with MockUpstream() as mock:
        call = Call(mock.base_url + "/chat/completions", orjson.dumps(BODY))
        result = await run_load(call, concurrency=4, duration=10.0, max_requests=25)
    assert result.ok == 25 and result.errors == 0 and len(result.latencies) == 25
    assert mock.count("/v1/chat/completions") == 25


async def test_load_generator_is_bounded_by_time_and_measures_streams():
    async with MockUpstream(stream_chunks=20) as mock:
        call = Call(mock.base_url + "/chat/completions", orjson.dumps({**BODY, "stream": True}), stream=True)
        result = await run_load(call, concurrency=2, duration=0.2, max_requests=10_000_000)
    assert result.ok > 0 and result.errors == 0 and result.elapsed < 2.0
    assert len(result.first_byte) == result.ok
    assert result.percentile(50, first_byte=True) <= result.percentile(50)


async def test_errors_are_counted_not_raised():
    async with MockUpstream() as mock:
        call = Call(mock.base_url + "/chat/completions", orjson.dumps({**BODY, "model": "mock-500"}))
        result = await run_load(call, concurrency=1, duration=5.0, max_requests=3)
    assert result.ok == 0 and result.errors == 3 and result.error_sample == "HTTP 500"


def test_table_lists_rows_and_verdicts():
    rows = [Row("throughput", "gateway", "plain", 64, 3100.0, 1.5, 4.0, ok=10)]
    figures = [Figure("gateway RSS idle", 90.0, "MB", "<= 80 MB", False)]
    table = format_table(rows, figures)
    assert "3,100" in table and "MISSED" in table


def test_rss_of_this_process_is_readable():
    assert rss_mb(os.getpid()) > 1


async def test_routing_and_admission_sections_run_against_todays_code(redis_url, monkeypatch):
    """The in-process sections call the router and admission directly: a few iterations each
    prove they still fit the code (a renamed method would fail here, not in a benchmark run)."""
    from bench import admission, routing

    rows = await routing.measure(50)
    assert rows and all(p50 > 0 for _, p50, _ in rows)
    monkeypatch.setenv("SWITCHYARD_BENCH_REDIS", redis_url)
    limits = await admission.measure(20)
    assert limits and all(p50 > 0 for *_, p50, _ in limits)


def test_compare_runs_two_trees_side_by_side():
    """One short round of each mode against this tree twice (the second tracing to the bench's own
    collector): both gateways answer and are charged CPU."""
    from pathlib import Path

    from bench.compare import compare

    src = str(Path(__file__).resolve().parents[2] / "src")
    results = compare({"a": src, "b": src}, {"b": "logging:\n  access_log: false\ntracing: {endpoint: $COLLECTOR}\n"},
                      1, 0.3, ("plain", "stream"))
    assert set(results) == {("a", "plain"), ("a", "stream"), ("b", "plain"), ("b", "stream")}
    for rows in results.values():
        assert len(rows) == 1 and rows[0][0] > 0 and rows[0][1] > 0


async def test_slow_streams_point_runs_against_todays_code():
    """A few short slow streams through an in-process gateway: the point's figures come out."""
    import yaml

    from bench.run import MASTER_KEY, gateway_config
    from bench.slow_streams import format_points, measure
    from switchyard.server.runner import GatewayThread

    async with MockUpstream() as mock:
        with GatewayThread(yaml.safe_load(gateway_config(mock.url, chunk_delay_ms=20))) as gateway:
            point = await measure(gateway.url, os.getpid(), MASTER_KEY, 20)
    assert point.completed == 20 and point.failed == 0
    assert point.events >= 20 * 20 and point.probes and point.cpu_us_per_event > 0
    assert "20/20" in format_points([point])


def test_slow_stream_counts_are_parsed_and_checked():
    import argparse

    import pytest

    from bench.run import _counts

    assert _counts("1000,4000") == [1000, 4000]
    for bad in ("many", "0", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            _counts(bad)
async def test_auth_section_runs_against_todays_code():
    """The auth section on a few keys: virtual keys are found, and a small SQLite load round-trips."""
    from bench import auth

    figures = auth.measure(keys=200, iterations=200)
    assert figures["virtual_p50"] > 0 and figures["static_p50"] > 0 and figures["snapshot_mb"] > 0
    assert await auth.load_from_sqlite(200) > 0


async def test_spend_section_runs_against_todays_code(tmp_path, redis_url, postgres_url):
    """The spend section's pieces, a few iterations each: the writer into PostgreSQL and SQLite,
    a budget's reserve and settle in memory and Redis, pricing an answer."""
    from bench import spend

    assert await spend.writer_rate(postgres_url, 300, batch=100) > 0
    assert await spend.writer_rate(f"sqlite:///{tmp_path / 'spend.db'}", 300, batch=100) > 0
    for url in ("memory://", redis_url):
        p50, p99 = await spend.budget_overhead(url, 20)
        assert 0 < p50 <= p99
    assert spend.price_cost_us(100) > 0


async def test_guard_section_runs_against_todays_code():
    """The guard section's in-process pieces, a few iterations each: prompts of the size asked,
    the stage masking what they hold, the restorer's first chunk."""
    from bench.guard import first_chunk_p50, prompt, stage_p50

    assert len(prompt(2, "few")) == 2048 and len(prompt(100, "none")) == 100 * 1024
    cpu, wall, masked = await stage_p50(prompt(2, "few"), 5)
    assert masked == 4 and 0 < cpu and 0 < wall
    _, _, none = await stage_p50(prompt(2, "none"), 5)
    assert none == 0
    direct, guarded = await first_chunk_p50(20)
    assert 0 < direct and 0 < guarded


def test_batch_section_runs_against_todays_code(mock_upstream):
    """The batch section's embedded run on a few lines: created, run, every line out once, CPU counted."""
    from bench import batch

    rate, cpu = batch.embedded_run(mock_upstream.url, 40)
    assert rate > 0 and cpu > 0


def test_the_otlp_encodings_compared_make_the_same_spans():
    """``bench.otlp``'s four ways run, and the gateway's bytes decode to what the SDK's encode."""
    from opentelemetry.proto.trace.v1 import trace_pb2

    from bench.otlp import records, ways
    from switchyard.observe import otlp
    from switchyard.observe.span_encoding import SpanEncoder

    calls = records(3)
    found = ways(calls)
    for way in found.values():
        way()
    ours: list[bytes] = []
    encoder = SpanEncoder()
    for record in calls:
        encoder.encode(record, 0, ours)
    mine = trace_pb2.ScopeSpans.FromString(otlp.framed(1, b"") + b"".join(ours)).spans
    theirs = trace_pb2.ScopeSpans.FromString(found["opentelemetry-proto messages"]()).spans
    assert [(s.name, s.kind, s.span_id, s.parent_span_id) for s in mine] == \
        [(s.name, s.kind, s.span_id, s.parent_span_id) for s in theirs]
    for a, b in zip(mine, theirs):
        assert {kv.key: kv.value for kv in a.attributes} == {kv.key: kv.value for kv in b.attributes}


async def test_the_semantic_section_runs_against_todays_code(redis_url):
    """A few lookups in memory and in Redis, as ``bench.semantic`` times them at 100,000 entries."""
    from bench import semantic

    for store in (None, redis_url):
        got = await semantic.lookups(300, 20, store)
        assert got["p50_ms"] > 0 and got["recall"] == 1.0
    costs = await semantic.stage_costs(3)
    assert set(costs) == {"hit", "miss/exact", "miss/strict"} and all(v > 0 for v in costs.values())
