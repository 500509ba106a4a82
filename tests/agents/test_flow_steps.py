"""An agent run as a durable flow (``agents/flow_steps.py`` over ``switchyard.flows`` on SQLite):
its model calls and tool calls are journaled steps, its approval is a flow wait, and a run stopped
while a person decides resumes without calling the model or the tool again."""

from __future__ import annotations

from pathlib import Path

import pytest

import switchyard
from switchyard.agents import Agent, tool
from switchyard.agents.flow_steps import agent_flow
from switchyard.flows import FlowEngine
from tests.agents.scripts import call, config, script

pytestmark = pytest.mark.asyncio


async def test_an_agent_flow_waits_for_approval_survives_a_stop_and_repeats_nothing(tmp_path: Path) -> None:
    charged: list[str] = []

    @tool(needs_approval=True)
    def charge(card: str) -> str:
        """Charge a card.

        Args:
            card: the card's number.
        """
        charged.append(card)
        return "charged"

    async with switchyard.AsyncClient(config()) as client:
        engine = FlowEngine(f"sqlite:///{tmp_path / 'flows.db'}", client=client)
        agent = Agent("pay", model="m", instructions=script([call("charge", card="4242"), "charged it"]),
                      tools=[charge], client=client)
        name = agent_flow(engine, agent)
        assert name == "agent:pay"
        async with engine:
            handle = await engine.start(name, {"input": "charge my card", "session": "s1"})
            waited = None
            async for event in handle.events():
                if event["type"] == "wait.started":
                    waited = event["event"]
                    await engine.cancel(handle.run_id)  # stopped while a person decides
            assert waited is not None and (await handle.outcome()).status == "cancelled"
            assert charged == []  # nothing runs before the approval

            await engine.resume(handle.run_id)
            async for event in handle.events():
                if event["type"] == "wait.started":
                    await engine.send(handle.run_id, event["event"], {"approved": True, "reason": ""})
                    break
            outcome = await handle.outcome(timeout=30)
            journal = await engine.runs.journal(handle.run_id)
    assert outcome.status == "done", outcome
    assert outcome.output["output"] == "charged it"
    assert charged == ["4242"]  # the tool ran once, after the approval
    names = [entry["name"] for entry in journal]
    model_steps = [n for n in names if n.endswith("/model")]
    assert len(model_steps) == len(set(model_steps)) == 2  # each model call journaled once, none repeated
