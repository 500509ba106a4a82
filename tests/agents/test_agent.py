"""The Agent interface: run, stream and run_sync; tools, parallel calls, errors, limits, approvals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import switchyard
from switchyard.agents import (
    Agent,
    ApprovalRequested,
    Finished,
    LimitReached,
    Limits,
    RunContext,
    TextDelta,
    ToolCalled,
    ToolReturned,
    UsageReported,
    tool,
)
from switchyard.agents.errors import ToolDefinitionError
from tests.agents.scripts import call, config, script


@tool
def add(a: int, b: int = 0) -> int:
    """Add two numbers.

    Args:
        a: the first number
        b: the second one,
            zero by default
    """
    return a + b


def test_a_tool_schema_comes_from_the_signature_and_the_docstring() -> None:
    assert add.description == "Add two numbers."
    assert add.parameters == {
        "type": "object", "additionalProperties": False, "required": ["a"],
        "properties": {"a": {"type": "integer", "title": "A", "description": "the first number"},
                       "b": {"type": "integer", "title": "B", "default": 0,
                             "description": "the second one, zero by default"}},
    }

    @tool(name="whoami")
    def who(ctx: RunContext, shout: bool) -> str:
        return ctx.user or ""

    assert list(who.parameters["properties"]) == ["shout"]  # the context is the run's, not the model's
    with pytest.raises(ToolDefinitionError, match="parameter x has no type annotation"):
        tool(lambda x: x, name="ident")
    with pytest.raises(ToolDefinitionError, match=r"\*args and \*\*kwargs"):
        @tool
        def spread(*names: str) -> str:
            return ""


async def test_invalid_arguments_go_back_to_the_model_which_calls_again(client: switchyard.AsyncClient) -> None:
    turns = [call("add", a="three"), call("add", a=3, b=4), "seven"]
    agent = Agent("adder", model="m", instructions=script(turns), tools=[add], client=client)
    events = [e async for e in agent.stream("3 + 4?")]
    results = [e for e in events if isinstance(e, ToolReturned)]
    assert results[0].is_error and results[0].output.startswith("Invalid arguments for tool add: a: Input should "
                                                                "be a valid integer")
    assert (results[1].output, results[1].is_error) == ("7", False)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "seven"
    result = events[-1].result  # type: ignore[union-attr]
    assert isinstance(events[-1], Finished) and result.output == "seven"
    assert (result.turns, result.tool_calls) == (3, 2)
    assert len([e for e in events if isinstance(e, UsageReported)]) == 3
    # the cost is the gateway's price of each call's usage: $1/M prompt, $2/M completion
    assert result.cost_usd == pytest.approx((result.prompt_tokens * 1 + result.completion_tokens * 2) / 1e6)
    assert result.cost_usd > 0


async def test_parallel_tool_calls_run_concurrently(client: switchyard.AsyncClient) -> None:
    arrived: list[str] = []
    both = asyncio.Event()

    @tool
    async def meet(who: str) -> str:
        """Returns once both callers have arrived: only concurrent calls can finish."""
        arrived.append(who)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)
        return f"{who} met"

    turns = [{"tools": [call("meet", who="ann"), call("meet", who="bob")]}, "met"]
    agent = Agent("p", model="m", instructions=script(turns), tools=[meet], client=client)
    result = await asyncio.wait_for(agent.run("meet"), 10)
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["ann met", "bob met"]


async def test_a_failing_or_unknown_tool_is_a_result_not_a_crash(client: switchyard.AsyncClient) -> None:
    @tool
    def explode(reason: str) -> str:
        raise RuntimeError(reason)

    turns = [{"tools": [call("explode", reason="disk full"), call("nope")]}, "sorry"]
    agent = Agent("e", model="m", instructions=script(turns), tools=[explode], client=client)
    result = await agent.run("go")
    tool_messages = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert tool_messages == ["Error: RuntimeError: disk full", "There is no tool named 'nope'; the tools are: explode."]
    assert result.output == "sorry"


async def test_max_turns_stops_the_run_between_steps(client: switchyard.AsyncClient) -> None:
    forever = [call("add", a=1)] * 10
    agent = Agent("loop", model="m", instructions=script(forever), tools=[add], client=client,
                  limits=Limits(max_turns=3))
    with pytest.raises(LimitReached) as caught:
        await agent.run("loop")
    assert caught.value.limit == "max_turns"
    assert caught.value.result.turns == 3 and caught.value.result.tool_calls == 3


async def test_usd_tokens_and_time_limits(client: switchyard.AsyncClient) -> None:
    forever = [call("add", a=1)] * 10
    cheap = Agent("cheap", model="m", instructions=script(forever), tools=[add], client=client,
                  limits=Limits(max_usd=0.0001))
    with pytest.raises(LimitReached) as caught:
        await cheap.run("loop")
    assert caught.value.limit == "max_usd"
    spent = caught.value.result.cost_usd
    assert spent >= 0.0001 and caught.value.result.turns >= 2  # the step that crossed it completed

    short = Agent("short", model="m", instructions=script(forever), tools=[add], client=client,
                  limits=Limits(max_tokens=60))
    with pytest.raises(LimitReached, match="max_tokens"):
        await short.run("loop")

    slow = Agent("slow", model="slow", instructions="hi", client=client, limits=Limits(max_seconds=0.2))
    started = asyncio.get_running_loop().time()
    with pytest.raises(LimitReached) as timed:
        await slow.run("wait")
    assert timed.value.limit == "max_seconds"
    assert asyncio.get_running_loop().time() - started < 0.45  # cut at 0.2 s, not after the model's 0.5 s


def test_bad_limits_and_agent_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="limits.max_turns"):
        Limits(max_turns=0)
    with pytest.raises(ValueError, match="limits.max_usd"):
        Limits(max_usd=-1)
    with pytest.raises(ValueError, match="approve: no tool named refund"):
        Agent("a", model="m", approve=["refund"])
    with pytest.raises(ValueError, match="more than one tool named add"):
        Agent("a", model="m", tools=[add, add])
    with pytest.raises(ValueError, match="model_settings.tools"):
        Agent("a", model="m", model_settings={"tools": []})
    with pytest.raises(ValueError, match="name:"):
        Agent("no spaces", model="m")


async def test_a_tool_waits_for_a_persons_approval(client: switchyard.AsyncClient) -> None:
    ran: list[str] = []

    @tool(needs_approval=True)
    def delete(path: str) -> str:
        ran.append(path)
        return "deleted"

    turns = [{"tools": [call("delete", path="/a"), call("delete", path="/b")]}, "done"]
    agent = Agent("ops", model="m", instructions=script(turns), tools=[delete], client=client)
    outputs: dict[str, str] = {}
    async for event in agent.stream("clean up"):
        if isinstance(event, ApprovalRequested):
            approved = '"/a"' in event.arguments
            await agent.decide(event.key, approved, "" if approved else "keep /b")
        if isinstance(event, ToolReturned):
            outputs[event.id] = event.output
    assert ran == ["/a"]
    assert sorted(outputs.values()) == ["The call to delete was refused by a person: keep /b. It did not run.",
                                        "deleted"]


async def test_an_approval_that_never_comes_refuses_the_call(client: switchyard.AsyncClient) -> None:
    turns = [call("add", a=1), "ok"]
    agent = Agent("wait", model="m", instructions=script(turns), tools=[add], client=client, approve=["add"],
                  limits=Limits(approval_timeout=0.05))
    result = await agent.run("go")
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == \
        ["The call to add was not approved in time; it did not run."]


def test_run_sync_on_a_client() -> None:
    with switchyard.Client(config()) as client:
        agent = Agent("sync", model="m", instructions=script([call("add", a=2, b=2), "four"]), tools=[add],
                      client=client)
        result = agent.run_sync("2 + 2")
        assert result.output == "four" and result.tool_calls == 1
        with pytest.raises(ValueError, match="client: a switchyard.Client serves run_sync"):
            asyncio.run(agent.run("2 + 2"))


async def test_a_reader_that_leaves_cancels_the_run(client: switchyard.AsyncClient) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @tool
    async def hang() -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    agent = Agent("h", model="m", instructions=script([call("hang")]), tools=[hang], client=client)
    stream = agent.stream("go")
    async for event in stream:
        if isinstance(event, ToolCalled):
            break
    await asyncio.wait_for(started.wait(), 5)
    await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.wait_for(cancelled.wait(), 5)


def _tool_messages(result: Any) -> list[str]:
    return [m["content"] for m in result.messages if m["role"] == "tool"]
