"""Steps: the in-process runner (not durable, bounded), and a run replayed over a journal —
what a durable runner (the flows engine, ``flow_steps.py``) gives an agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

import switchyard
from switchyard.agents import Agent, ApprovalRequested, InProcessSteps, StepRunner, tool
from switchyard.agents.steps import TooManyWaits
from tests.agents.scripts import call, script


async def test_in_process_waits_signals_and_bounds() -> None:
    steps = InProcessSteps(max_pending=2)
    assert steps.durable is False and isinstance(steps, StepRunner)
    await steps.signal("early", {"approved": True})
    assert await steps.wait("early") == {"approved": True}  # a signal before the wait is kept for it
    waiter = asyncio.ensure_future(steps.wait("k"))
    await asyncio.sleep(0)
    assert steps.pending() == ["k"]
    await steps.signal("k", 1)
    assert await waiter == 1
    with pytest.raises(TimeoutError):
        await steps.wait("never", timeout=0.01)
    await steps.signal("a", 1)
    await steps.signal("b", 2)
    with pytest.raises(TooManyWaits):
        await steps.signal("c", 3)


class Journal:
    """A journaling step runner as a durable engine is one: each step's result kept (as JSON)
    under its name, returned on replay instead of running again; waits answered once kept."""

    durable = True

    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}
        self.ran: list[str] = []
        self.signals: dict[str, Any] = {}
        self.waiting: dict[str, asyncio.Future[Any]] = {}

    async def step(self, name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        if name in self.kept:
            return orjson.loads(self.kept[name])
        result = await fn()
        self.ran.append(name)
        self.kept[name] = orjson.dumps(result)
        return result

    async def wait(self, key: str, timeout: float | None = None) -> Any:
        if key in self.signals:
            return self.signals[key]
        future = self.waiting[key] = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(timeout):
            return await future

    async def signal(self, key: str, payload: Any) -> None:
        self.signals[key] = payload
        future = self.waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(payload)


class Crashing:
    """The client, failing as a dying process would on model call number ``at``."""

    def __init__(self, client: switchyard.AsyncClient, at: int) -> None:
        self.client, self.at, self.calls = client, at, 0

    def stream(self, **request: Any) -> AsyncIterator[Any]:
        self.calls += 1
        if self.calls == self.at:
            raise ConnectionError("the process died")
        return self.client.stream(**request)


async def test_a_run_resumed_over_its_journal_repeats_no_model_call_no_tool_and_no_approval(
        client: switchyard.AsyncClient) -> None:
    charged: list[str] = []

    @tool(needs_approval=True)
    def charge(card: str) -> str:
        charged.append(card)
        return "charged"

    journal = Journal()
    turns = [call("charge", card="4242"), call("charge", card="1111"), "both charged"]
    agent = Agent("pay", model="m", instructions=script(turns), tools=[charge], steps=journal, client=client)

    first = Crashing(client, at=3)
    with pytest.raises(ConnectionError):
        async for event in agent.stream("charge both", run_id="run-1", client=first):
            if isinstance(event, ApprovalRequested):
                await agent.decide(event.key, True)
    assert charged == ["4242", "1111"] and first.calls == 3

    resumed = Crashing(client, at=0)
    asked = []
    async for event in agent.stream("charge both", run_id="run-1", client=resumed):
        if isinstance(event, ApprovalRequested):
            asked.append(event)
    assert charged == ["4242", "1111"]  # no tool ran twice
    # the approvals are announced again, and answered at once from the journal: nobody is asked twice
    assert [(e.name, e.arguments) for e in asked] == [("charge", '{"card":"4242"}'), ("charge", '{"card":"1111"}')]
    assert journal.waiting == {}
    assert resumed.calls == 1  # only the model call that never finished
    assert journal.ran[-1] == "run-1/2/model"
