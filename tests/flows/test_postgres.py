"""The same engine on PostgreSQL: journaled steps, branches, waits, payloads by reference and
retention, in the test's own schema."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchyard.flows import FlowEngine, Run
from tests.flows import flowlib

pytestmark = pytest.mark.asyncio


async def test_a_run_on_postgresql(postgres_url: str) -> None:
    calls: list[str] = []

    async def flow(run: Run, name: str) -> dict[str, Any]:
        hello = await run.step("hello", lambda: calls.append(name) or f"hello {name}")
        doubled = await run.map(flowlib.twice, [5, 6])
        blob = await run.step("blob", lambda: "z" * 5000)
        said = await run.model("say", model="priced", messages=[{"role": "user", "content": "two words"}])
        go = await run.wait_for("go", timeout=30)
        return {"hello": hello, "doubled": doubled, "blob": len(blob), "said": said.text, "usd": said.usd, "go": go}

    engine = FlowEngine(postgres_url, config=flowlib.PRICED, payload_threshold=1024)
    engine.register("pg", flow)
    async with engine:
        handle = await engine.start("pg", "pg", run_id="pg-1")
        async for event in handle.events():
            if event["type"] == "wait.started":
                await engine.send("pg-1", "go", 1)
        outcome = await asyncio.wait_for(handle.outcome(), 30)
        assert outcome.status == "done"
        assert outcome.output == {"hello": "hello pg", "doubled": [10, 12], "blob": 5000, "said": "two words",
                                  "usd": 4.0, "go": 1}
        again = await engine.run("pg", "pg", run_id="pg-1")
        assert again.output == outcome.output and calls == ["pg"]
        assert engine.payloads.count() == 1
        assert [s.run_id for s in await engine.runs.recent()] == ["pg-1"]
        assert await engine.prune(older_than_seconds=0) == 1
        assert engine.payloads.count() == 0
