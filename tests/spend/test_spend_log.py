"""Spend records: one per request with every field, in SQLite and PostgreSQL as in memory; rolled up
by key, team, tenant, alias and model over a time range; a bounded writer with an explicit overflow."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import switchyard
from switchyard.cli.main import main
from switchyard.core.call import Call
from switchyard.core.config import SpendConfig
from switchyard.core.errors import NotFound, UpstreamError
from switchyard.spend import MemorySpendStore, SpendLog, SpendQuery, SpendRecord
from switchyard.spend.sql_store import SqlSpendStore
from switchyard.storage import open_store
from switchyard.storage.migrate import upgrade

KEYS = [{"key": "sk-a", "name": "key-a", "team": "red", "tenant": "acme"},
        {"key": "sk-b", "name": "key-b", "team": "blue", "tenant": "acme"}]
MODELS = {"echo": {"deployments": [{"id": "echo-1", "provider": "fake", "model": "echo",
                                    "price": {"input": 2, "output": 4}}]},
          "other": {"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 1, "output": 1}}]},
          "failing": {"deployments": [{"provider": "fake", "model": "fail"}]}}


def _record(at: float, **fields: Any) -> SpendRecord:
    base: dict[str, Any] = dict(
        at=at, request_id="r", key="k", key_id=None, user=None, team="t", team_id=None, tenant="acme", alias="echo", model="echo",
        deployment="echo#0", provider="fake", kind="chat", stream=False, status=200, error=None, prompt_tokens=10,
        completion_tokens=5, cached_tokens=None, cache_write_tokens=2, reasoning_tokens=0, cost_usd=0.5, priced=True,
        estimated=False, latency_ms=1.5, cached=False, coalesced=False)
    base.update(fields)
    return SpendRecord(**base)


def test_one_record_per_request_with_who_what_how_much_and_how_it_went():
    async def run() -> list[SpendRecord]:
        config = {"auth": {"keys": KEYS}, "models": MODELS, "spend": {"records": True},
                  "reliability": {"retry": {"attempts": 1}}}
        async with switchyard.AsyncClient(config, api_key="sk-a") as client:
            await client.chat(model="echo", messages=[{"role": "user", "content": "one two three"}])
            chunks = [c async for c in client.stream(model="other", messages=[{"role": "user", "content": "a b"}])]
            assert chunks
            with pytest.raises(NotFound):
                await client.chat(model="nope", messages=[{"role": "user", "content": "x"}])
            with pytest.raises(UpstreamError):
                await client.chat(model="failing", messages=[{"role": "user", "content": "x"}])
            services = client.services
            assert services is not None and services.spend is not None
            return [r async for r in services.spend.records(None, None)]

    records = asyncio.run(run())
    assert [(r.alias, r.status, r.stream) for r in records] == [
        ("echo", 200, False), ("other", 200, True), ("nope", 404, False), ("failing", 502, False)]
    ok = records[0]
    assert (ok.key, ok.team, ok.tenant, ok.model, ok.deployment, ok.provider) == (
        "key-a", "red", "acme", "echo", "echo-1", "fake")
    assert ok.prompt_tokens > 0 and ok.completion_tokens == 3 and ok.priced and not ok.estimated
    assert ok.cost_usd == pytest.approx(ok.prompt_tokens * 2e-6 + 3 * 4e-6)
    assert ok.latency_ms is not None and ok.latency_ms > 0 and not ok.cached and not ok.coalesced
    assert records[1].cost_usd == pytest.approx(records[1].prompt_tokens * 1e-6 + records[1].completion_tokens * 1e-6)
    assert records[2].error == "model_not_found" and records[2].cost_usd == 0 and records[2].deployment is None
    assert records[3].error == "upstream_error" and records[3].cost_usd == 0 and not records[3].priced


async def _sql_store(url: str) -> tuple[Any, SqlSpendStore]:
    await upgrade(url)
    durable = open_store(url)
    return durable, SqlSpendStore(durable.engine)  # type: ignore[attr-defined]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spend.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_rollups_by_each_dimension_over_a_time_range(store_url):
    records = [
        _record(100.0, key="a", key_id="key_a", team="red", tenant="acme", alias="gpt", model="gpt-4o", cost_usd=1.0),
        _record(200.0, key="a", team="red", tenant="acme", alias="gpt", model="gpt-4o", cost_usd=2.0, status=502,
                error="upstream_error", cached_tokens=7),
        _record(300.0, key="b", team="blue", tenant="acme", alias="claude", model="claude-sonnet-4-5", cost_usd=4.0),
        _record(400.0, key="c", team=None, tenant="other", alias="local", model="llama3", cost_usd=0.0, priced=False,
                estimated=True),
    ]

    async def run() -> dict[str, Any]:
        durable = None
        if store_url == "memory://":
            store: Any = MemorySpendStore()
        else:
            durable, store = await _sql_store(store_url)
        try:
            await store.append(records)
            out = {}
            for group_by in ("key", "team", "tenant", "alias", "model"):
                out[group_by] = await store.report(SpendQuery(group_by))
            out["range"] = await store.report(SpendQuery("key", since=150.0, until=400.0))
            out["only"] = await store.report(SpendQuery("alias", only=(("key_id", "key_a"),)))
            out["scan"] = [r async for r in store.scan(200.0, None)]
            return out
        finally:
            if durable is not None:
                await durable.aclose()

    out = asyncio.run(run())
    keys, total = out["key"]
    assert [(r.group, r.requests, r.cost_usd) for r in keys] == [("b", 1, 4.0), ("a", 2, 3.0), ("c", 1, 0.0)]
    assert keys[1].errors == 1 and keys[1].cached_tokens == 7 and keys[1].cache_write_tokens == 4
    assert keys[2].unpriced == 1 and keys[2].estimated == 1
    assert (total.requests, total.cost_usd, total.prompt_tokens, total.errors) == (4, 7.0, 40, 1)
    assert [(r.group, r.cost_usd) for r in out["team"][0]] == [("blue", 4.0), ("red", 3.0), (None, 0.0)]
    assert [(r.group, r.requests) for r in out["tenant"][0]] == [("acme", 3), ("other", 1)]
    assert [r.group for r in out["alias"][0]] == ["claude", "gpt", "local"]
    assert [r.group for r in out["model"][0]] == ["claude-sonnet-4-5", "gpt-4o", "llama3"]
    ranged, ranged_total = out["range"]
    assert [(r.group, r.cost_usd) for r in ranged] == [("b", 4.0), ("a", 2.0)] and ranged_total.requests == 2
    assert [r.at for r in out["scan"]] == [200.0, 300.0, 400.0] and out["scan"][0].error == "upstream_error"
    only, only_total = out["only"]  # a key holder's view: its own key's records only
    assert [(r.group, r.requests, r.cost_usd) for r in only] == [("gpt", 1, 1.0)] and only_total.requests == 1


class _Gate:
    """A spend store whose writes wait until the test opens the gate (the database is slow)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.inner = MemorySpendStore()

    async def append(self, records: Sequence[SpendRecord]) -> None:
        await self.open.wait()
        await self.inner.append(records)

    async def aclose(self) -> None:
        return None


def test_drop_overflow_counts_and_never_waits_block_waits_and_loses_nothing():
    async def run(overflow: str) -> tuple[SpendLog, _Gate, bool]:
        gate = _Gate()
        log = SpendLog(gate, SpendConfig(records=True, buffer=4, batch=2, overflow=overflow))  # type: ignore[arg-type]
        log.start()
        call = Call("r")
        for _ in range(4):  # they fit in the buffer: nobody waits
            await log.record_call(call)
        fifth = asyncio.ensure_future(log.record_call(call))
        done, _ = await asyncio.wait({fifth}, timeout=0.3)
        waited = not done
        gate.open.set()  # the database answers again
        await asyncio.wait_for(fifth, 10)
        await log.writer.flushed()
        for _ in range(4):
            await log.record_call(call)
        await log.aclose()
        return log, gate, waited

    log, gate, waited = asyncio.run(run("drop"))
    assert not waited and log.writer.dropped == 1 and len(gate.inner.records) == 8 and log.writer.lost == 0
    log, gate, waited = asyncio.run(run("block"))
    assert waited and log.writer.dropped == 0 and len(gate.inner.records) == 9 and log.writer.lost == 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["switchyard", *args], code, out.getvalue(), err.getvalue())


def test_a_graceful_shutdown_writes_every_record_and_the_cli_exports_them(tmp_path, start_gateway_process):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    assert _cli("db", "upgrade", "--url", url).returncode == 0
    config = {"auth": {"keys": KEYS}, "models": MODELS, "storage": {"url": url},
              "spend": {"records": True, "batch": 1000}}  # a batch never fills: only the shutdown writes them
    gateway = start_gateway_process(config)
    import openai

    for key, count in (("sk-a", 7), ("sk-b", 3)):
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
        for _ in range(count):
            client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "one two"}])
        client.close()
    gateway.stop()  # SIGTERM: a graceful shutdown
    report = _cli("spend", "report", "--url", url, "--group-by", "team", "--format", "csv")
    assert report.returncode == 0, report.stderr
    lines = report.stdout.strip().splitlines()
    assert lines[0].startswith("team,requests,errors,prompt_tokens,completion_tokens")
    assert [line.split(",")[:3] for line in lines[1:]] == [["red", "7", "0"], ["blue", "3", "0"]]
    export = _cli("spend", "export", "--url", url, "--from", "2020-01-01T00:00:00Z")
    rows = export.stdout.strip().splitlines()
    assert export.returncode == 0 and len(rows) == 11 and rows[0].startswith("at,request_id,key,key_id,user,team,team_id")
    table = _cli("spend", "report", "--url", url, "--group-by", "key")
    assert "key-a" in table.stdout and "(total)" in table.stdout
    bad = _cli("spend", "report", "--url", url, "--group-by", "key", "--from", "yesterday")
    assert bad.returncode == 2 and "--from" in bad.stderr
