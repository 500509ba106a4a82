"""The read models: kept from the event logs asynchronously, read by the endpoints instead of the write
path, their lag a metric, and rebuilt from the logs to the same rows."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import sqlalchemy as sa

import switchyard
from switchyard.cli.main import main
from switchyard.spend import SpendQuery
from switchyard.storage import sql_schema as schema

CHAT = "/v1/chat/completions"
KEYS = [{"key": "sk-red", "name": "red-key", "team": "red", "tenant": "acme"},
        {"key": "sk-blue", "name": "blue-key", "team": "blue", "tenant": "acme"}]
MODELS = {"chat": {"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 2, "output": 4}}]},
          "other": {"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 1, "output": 1}}]}}


def _config(url: str, **extra: Any) -> dict[str, Any]:
    return {"auth": {"master_key": "sk-master", "keys": KEYS}, "storage": {"url": url},
            "spend": {"records": True}, "models": MODELS, "logging": {"access_log": False}, **extra}


async def _rows(durable: Any, table: sa.Table) -> list[tuple[Any, ...]]:
    async with durable.engine.connect() as conn:
        return sorted(tuple(row) for row in (await conn.execute(sa.select(table))).all())


def test_admin_spend_reads_the_usage_projection_not_the_spend_records(tmp_path: Path) -> None:
    async def run() -> None:
        async with switchyard.AsyncClient(_config(f"sqlite:///{tmp_path / 'gw.db'}"), api_key="sk-red") as red, \
                switchyard.AsyncClient(red.config, api_key="sk-blue") as blue:
            for _ in range(3):
                await red.chat(model="chat", messages=[{"role": "user", "content": "one two three"}])
            await blue.chat(model="other", messages=[{"role": "user", "content": "four"}])
            services = red.services
            assert services is not None and services.spend is not None and blue.services is not None
            spend = services.spend
            await blue.services.spend.writer.flushed()  # type: ignore[union-attr]  # another process's records
            projected = (await spend.report(SpendQuery("team")))["data"]
            written, _ = await spend.store.report(SpendQuery("team"))  # the write path's own rollup
            assert [(r["team"], r["requests"], r["cost_usd"]) for r in projected] == [
                (r.group, r.requests, pytest.approx(r.cost_usd)) for r in written]
            assert [(r["team"], r["requests"]) for r in projected] == [("red", 3), ("blue", 1)]
            async with services.durable.engine.begin() as conn:  # type: ignore[union-attr]
                await conn.execute(sa.delete(schema.spend))  # the write path's table emptied: reads do not change
            again = (await spend.report(SpendQuery("team")))["data"]
            assert again == projected
            by_key = (await spend.report(SpendQuery("key", only=(("user", "nobody"),))))["data"]
            assert by_key == []

    asyncio.run(run())


def test_projection_lag_is_a_metric(tmp_path: Path) -> None:
    async def run() -> tuple[dict[str, tuple[float, int]], str]:
        config = _config(f"sqlite:///{tmp_path / 'gw.db'}", metrics={"enabled": True}, projections={"page": 2})
        async with switchyard.AsyncClient(config, api_key="sk-red") as client:
            services = client.services
            assert services is not None and services.projector is not None and services.spend is not None
            projector = services.projector
            await projector.aclose()  # the background projector stops: nothing is applied unless asked
            for _ in range(5):
                await client.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
            await services.spend.writer.flushed()
            usage = next(p for p in projector.projections if p.name == "usage")
            assert await projector.step(usage) == 2  # one page of two of the five
            lag = projector.lag()
            assert services.metrics is not None
            text, _ = services.metrics.exposition()
            return lag, text.decode()

    lag, text = asyncio.run(run())
    assert lag["usage"][1] == 3 and lag["usage"][0] > 0
    assert 'switchyard_projection_lag_events{projection="usage"} 3.0' in text
    assert 'switchyard_projection_lag_seconds{projection="usage"}' in text


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gw.db'}"
    url = str(request.getfixturevalue("postgres_url"))
    assert main(["db", "upgrade", "--url", url]) == 0
    return url


def test_rebuilding_the_read_models_from_the_event_log_gives_the_same_rows(database: str, start_gateway: Any) -> None:
    config = _config(database, batch={"sweep_interval": 0.1, "lease": 1})
    gateway = start_gateway(config)
    for key in ("sk-red", "sk-blue"):
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "live"}])
        content = b"\n".join([*(orjson.dumps({"custom_id": f"c{i}", "method": "POST", "url": CHAT, "body": {
            "model": "other", "messages": [{"role": "user", "content": f"n {i}"}]}}) for i in range(12)), b"{bad"])
        uploaded = client.files.create(file=("b.jsonl", io.BytesIO(content)), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
        while (batch := client.batches.retrieve(batch.id)).status != "completed":
            time.sleep(0.05)  # the API is polled
    admin = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-master", max_retries=0)
    shown = {b.id: b.model_dump() for b in admin.batches.list()}
    gateway.stop()

    async def snapshot() -> tuple[list[Any], list[Any], list[Any]]:
        durable = switchyard.storage.open_store(database)
        try:
            return (await _rows(durable, schema.batch_view), await _rows(durable, schema.usage_view),
                    await _rows(durable, schema.projections))
        finally:
            await durable.aclose()

    batches, usage, positions = asyncio.run(snapshot())
    assert len(batches) == 2 and len(shown) == 2 and all(b["request_counts"]["completed"] == 12 for b in shown.values())
    assert sum(row[-10] for row in usage) == 26  # requests: 2 live + 24 batch lines
    assert main(["projections", "rebuild", "--url", database]) == 0
    rebuilt = asyncio.run(snapshot())
    assert rebuilt[0] == batches and rebuilt[1] == usage
    assert [(name, position) for name, position, _ in rebuilt[2]] == [(name, position) for name, position, _ in positions]
