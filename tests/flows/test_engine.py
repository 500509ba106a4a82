"""The engine on SQLite: steps journaled once, retries and timeouts, waits, cancel and resume,
limits, branches, large results by reference, retention, and its refusals."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from switchyard.flows import EventTimeout, FlowEngine, FlowError, FlowNotFound, Limits, Run
from switchyard.flows.errors import FlowDefinitionError
from tests.flows import flowlib

pytestmark = pytest.mark.asyncio


def engine_at(tmp_path: Path, **options: Any) -> FlowEngine:
    return FlowEngine(f"sqlite:///{tmp_path / 'flows.db'}", config=flowlib.PRICED, **options)


async def test_a_steps_result_is_journaled_once_and_replayed_not_rerun(tmp_path: Path) -> None:
    calls: list[int] = []

    def count(i: int) -> int:
        calls.append(i)
        return i + 100

    async def flow(run: Run, n: int) -> dict[str, Any]:
        values = [await run.step(f"count-{i}", count, i) for i in range(n)]
        branches = await run.map(flowlib.twice, [1, 2, 3], concurrency=2)
        squares = await run.subflow("gathered", 4)
        return {"values": values, "branches": branches, "squares": squares}

    engine = engine_at(tmp_path)
    engine.register("counting", flow)
    engine.register("gathered", flowlib.gathered)
    async with engine:
        first = await engine.run("counting", 3, run_id="r1")
        assert first.status == "done"
        assert first.output == {"values": [100, 101, 102], "branches": [2, 4, 6], "squares": [0, 1, 4, 9]}
        assert first.totals["steps"] == 3 + 3 * 2 + 4
        again = await engine.run("counting", 3, run_id="r1")  # the same run id joins the finished run
        assert again.output == first.output
        journal = await engine.runs.journal("r1")
    assert calls == [0, 1, 2]
    assert [j["name"] for j in journal[:4]] == ["DBOS.writeStream", "count-0", "count-1", "count-2"]
    assert journal[1]["output"]["value"] == 100


async def test_retries_timeouts_and_a_step_that_keeps_failing(tmp_path: Path) -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("upstream hiccup")
        return "ok"

    async def slow() -> None:
        await asyncio.sleep(5)

    async def flow(run: Run, which: str) -> Any:
        if which == "flaky":
            return await run.step("flaky", flaky, retries=2)
        return await run.step("slow", slow, retries=1, timeout=0.05)

    engine = engine_at(tmp_path)
    engine.register("f", flow)
    async with engine:
        assert (await engine.run("f", "flaky")).output == "ok"
        handle = await engine.start("f", "slow")
        events = [e async for e in handle.events()]
        failed = await handle.outcome()
    assert len(attempts) == 3
    assert failed.status == "failed"
    assert "step 'slow' failed after 2 attempt(s): TimeoutError" in (failed.reason or "")
    assert [e["type"] for e in events] == ["run.started", "step.started", "step.retry", "run.finished"]


async def test_wait_for_an_event_sent_by_the_api_and_its_timeout(tmp_path: Path) -> None:
    async def approval(run: Run, draft: str) -> dict[str, Any]:
        try:
            decision = await run.wait_for("approval", timeout=float(draft == "late") * 0.2 or 30)
        except EventTimeout as exc:
            return {"approved": False, "why": str(exc)}
        return {"approved": decision["ok"], "by": decision["by"]}

    engine = engine_at(tmp_path)
    engine.register("approval", approval)
    async with engine:
        handle = await engine.start("approval", "draft")
        async for event in handle.events():
            if event["type"] == "wait.started":
                assert event["event"] == "approval"
                await engine.send(handle.run_id, "approval", {"ok": True, "by": "ana"})
        assert (await handle.outcome()).output == {"approved": True, "by": "ana"}
        late = await engine.run("approval", "late")
        assert late.output == {"approved": False, "why": "no 'approval' event within 0.2 s"}
        with pytest.raises(FlowError, match="has ended"):
            await engine.send(handle.run_id, "approval", {})
        with pytest.raises(FlowNotFound):
            await engine.send("nope", "approval", {})


async def test_cancel_then_resume_continues_from_the_journal(tmp_path: Path) -> None:
    ran: list[str] = []

    async def two_halves(run: Run, _: Any) -> list[str]:
        first = await run.step("first", lambda: ran.append("first") or "a")
        gate = await run.wait_for("go", timeout=30)
        second = await run.step("second", lambda: ran.append("second") or "b")
        return [first, gate, second]

    engine = engine_at(tmp_path)
    engine.register("halves", two_halves)
    async with engine:
        handle = await engine.start("halves")
        async for event in handle.events():
            if event["type"] == "wait.started":
                await engine.cancel(handle.run_id)
        assert (await handle.outcome()).status == "cancelled"
        status = await engine.status(handle.run_id)
        assert (status.status, status.flow) == ("cancelled", "halves")
        await engine.resume(handle.run_id)
        async for event in handle.events():
            if event["type"] == "wait.started":
                await engine.send(handle.run_id, "go", "g")
                break
        outcome = await handle.outcome(timeout=30)
    assert outcome.status == "done" and outcome.output == ["a", "g", "b"]
    assert ran == ["first", "second"]


@pytest.mark.parametrize(("limits", "stopped_by", "calls"), [
    ({"model_calls": 2}, "model_calls", 2),
    ({"steps": 3}, "steps", 3),
    ({"tokens": 7}, "tokens", 2),      # 3 tokens in + 3 out per call: the second call crosses 7
    ({"usd": 10.0}, "usd", 2),         # $6 a call at the priced fake
])
async def test_a_limit_stops_the_run_cleanly(tmp_path: Path, limits: dict[str, Any], stopped_by: str,
                                             calls: int) -> None:
    engine = engine_at(tmp_path)
    engine.register("chatty", flowlib.chatty)
    async with engine:
        outcome = await engine.run("chatty", 5, limits=limits)
    assert outcome.status == "stopped"
    assert outcome.reason is not None and outcome.reason.startswith(f"limit {stopped_by} reached")
    assert outcome.totals["model_calls"] == calls


async def test_usd_per_step_is_the_gateways_price_and_the_request_is_journaled(tmp_path: Path) -> None:
    engine = engine_at(tmp_path)
    engine.register("chatty", flowlib.chatty)
    async with engine:
        handle = await engine.start("chatty", 2)
        events = [e async for e in handle.events()]
        outcome = await handle.outcome()
        journal = await engine.runs.journal(handle.run_id)
    finished = [e for e in events if e["type"] == "step.finished"]
    assert [e["usd"] for e in finished] == [6.0, 6.0]  # (3 + 3) tokens at $1 each
    assert [e["tokens"] for e in finished] == [6, 6]
    assert outcome.totals == {"steps": 2, "model_calls": 2, "tokens": 12, "usd": 12.0}
    record = journal[1]["output"]["value"]
    assert record["request"] == {"model": "priced", "messages": [{"role": "user", "content": "round 0 words"}]}
    assert record["response"]["choices"][0]["message"]["content"] == "round 0 words"
    assert record["usd"] == 6.0


async def test_wall_time_limit(tmp_path: Path) -> None:
    async def sleepy(run: Run, _: Any) -> None:
        for i in range(100):
            await run.step(f"nap-{i}", asyncio.sleep, 0.02)

    engine = engine_at(tmp_path)
    engine.register("sleepy", sleepy)
    async with engine:
        started = time.monotonic()
        outcome = await engine.run("sleepy", limits=Limits(wall_seconds=0.3))
    assert outcome.status == "stopped" and "wall_seconds" in (outcome.reason or "")
    assert time.monotonic() - started < 5


async def test_large_results_are_stored_by_reference_and_retention_removes_them(tmp_path: Path) -> None:
    async def big(run: Run, size: int) -> int:
        blob = await run.step("blob", lambda: "x" * size)
        small = await run.step("small", lambda: "y")
        return len(blob) + len(small)

    engine = engine_at(tmp_path, payload_threshold=1024)
    engine.register("big", big)
    async with engine:
        outcome = await engine.run("big", 50_000, run_id="big-1")
        journal = await engine.runs.journal("big-1")
        assert outcome.output == 50_001
        stored = journal[1]["output"]["value"]
        assert stored.size > 50_000 and len(stored.digest) == 64
        assert journal[2]["output"]["value"] == "y"
        assert engine.payloads.count() == 1
        assert await engine.prune(older_than_seconds=3600) == 0
        assert await engine.prune(older_than_seconds=0) == 1
        assert engine.payloads.count() == 0
        with pytest.raises(FlowNotFound):
            await engine.status("big-1")


async def test_refusals_name_what_is_wrong(tmp_path: Path) -> None:
    async def local_branch(run: Run, item: Any) -> Any:
        return item

    async def uses_a_closure(run: Run, _: Any) -> Any:
        return await run.map(local_branch, [1])

    engine = engine_at(tmp_path)
    engine.register("closure", uses_a_closure)
    with pytest.raises(FlowDefinitionError, match="limits.usd: must be a positive number"):
        Limits.of({"usd": -1})
    with pytest.raises(FlowDefinitionError, match="limits.dollars: unknown limit"):
        Limits.of({"dollars": 1})
    with pytest.raises(FlowError, match="expected sqlite:///PATH or postgresql"):
        FlowEngine("mysql://x")
    async with engine:
        with pytest.raises(FlowNotFound, match="no flow named 'missing'"):
            await engine.start("missing")
        failed = await engine.run("closure")
        assert failed.status == "failed" and "module-level function" in (failed.reason or "")
        with pytest.raises(FlowError, match="one per process"):
            await engine_at(tmp_path / "other").open()


async def test_a_run_queued_before_any_worker_waits_for_one_and_the_loop_outlives_the_engine(tmp_path: Path) -> None:
    async def hello(run: Run, name: str) -> str:
        return str(await run.step("hello", lambda: f"hello {name}"))

    starter = engine_at(tmp_path)  # takes no queued run
    starter.register("hello", hello)
    async with starter:
        handle = await starter.start("hello", "queue", queue=True, run_id="queued-1")
        assert (await starter.status("queued-1")).status == "enqueued"
    assert await asyncio.to_thread(lambda: "threads still work") == "threads still work"
    worker = engine_at(tmp_path, worker_concurrency=2)  # the same loop: DBOS again, after its destroy
    worker.register("hello", hello)
    async with worker:
        outcome = await worker.outcome(handle.run_id, timeout=30)
    assert (outcome.status, outcome.output) == ("done", "hello queue")
