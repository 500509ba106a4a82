"""Tools from MCP servers (directly and through the gateway's MCP door, with the official SDK),
from the built-in services, from a retriever; agents as tools and handoffs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import switchyard
from switchyard.agents import Agent, HandedOff, ToolReturned
from switchyard.agents.mcp_tools import MCPTools
from switchyard.agents.retrieval import long_term_memory, retriever_tool
from switchyard.agents.services import service_tools
from switchyard.server.runner import GatewayThread
from tests.agents.retrievers import Chunk, WordRetriever
from tests.agents.scripts import call, script
from tests.mcp_gateway.upstream import UPSTREAM_TOKEN, UpstreamThread

MASTER = "sk-master-agents-0123456789"


@pytest.fixture(scope="module")
def weather() -> Iterator[UpstreamThread]:
    with UpstreamThread() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(weather: UpstreamThread) -> Iterator[GatewayThread]:
    config = {"auth": {"master_key": MASTER},
              "models": {"fake/echo": {"deployments": [{"provider": "fake", "model": "echo"}]}},
              "logging": {"access_log": False},
              "mcp": {"servers": {"weather": {"url": weather.url,
                                              "headers": {"authorization": f"Bearer {UPSTREAM_TOKEN}"}}},
                      "builtins": {"calc": {}}}}
    with GatewayThread(config) as gw:
        yield gw


def tool_outputs(events: list[Any]) -> dict[str, tuple[str, bool]]:
    return {e.name: (e.output, e.is_error) for e in events if isinstance(e, ToolReturned)}


async def test_an_mcp_servers_tools_directly_and_through_the_gateway(
        weather: UpstreamThread, gateway: GatewayThread, client: switchyard.AsyncClient) -> None:
    turns = [{"tools": [call("weather__forecast", city="Oslo"), call("weather__add", a=2, b="x")]}, "done"]
    async with MCPTools("weather", url=weather.url, headers={"authorization": f"Bearer {UPSTREAM_TOKEN}"}) as direct:
        assert direct.connected
        agent = Agent("w", model="m", instructions=script(turns), tools=[direct], client=client)
        assert {t.name for t in agent.all_tools()} >= {"weather__forecast", "weather__add", "weather__wait"}
        outputs = tool_outputs([e async for e in agent.stream("weather?")])
    assert outputs["weather__forecast"] == ("sunny in Oslo", False)
    assert outputs["weather__add"][1] and "validation error" in outputs["weather__add"][0].lower()

    door_turns = [{"tools": [call("weather__forecast", city="Rome"), call("calc__evaluate", expression="6*7")]}, "ok"]
    async with MCPTools("gw", url=f"{gateway.url}/mcp", headers={"authorization": f"Bearer {MASTER}"},
                        prefix="") as door:
        agent = Agent("g", model="m", instructions=script(door_turns), tools=[door], client=client)
        outputs = tool_outputs([e async for e in agent.stream("weather?")])
    assert outputs == {"weather__forecast": ("sunny in Rome", False), "calc__evaluate": ("42", False)}


async def test_an_mcp_server_that_is_down_is_a_tool_error(client: switchyard.AsyncClient) -> None:
    async with MCPTools("gone", url="http://127.0.0.1:9/mcp", connect_timeout=0.3) as gone:
        assert not gone.connected and gone.list_tools() == []
        agent = Agent("d", model="m", instructions=script([call("gone__x"), "fine"]), tools=[gone], client=client)
        result = await agent.run("go")
    assert result.output == "fine"
    assert result.messages[2]["content"].startswith("There is no tool named 'gone__x'")


async def test_builtin_services_as_tools(client: switchyard.AsyncClient, tmp_path: Any) -> None:
    import sqlite3

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (name TEXT, price REAL)")
        db.execute("INSERT INTO items VALUES ('tea', 3.5)")
    tools = service_tools({"calc": {}, "sql": {"url": f"sqlite:///{path}"}, "fetch": {"allow_hosts": ["127.0.0.1:9"]}})
    assert [t.name for t in tools] == ["calc__evaluate", "fetch__get", "sql__query"]
    turns = [{"tools": [call("sql__query", sql="SELECT name, price FROM items"), call("sql__query", sql="DELETE FROM items"),
                        call("fetch__get", url="http://example.com/"), call("calc__evaluate", expression="2**10")]}, "ok"]
    agent = Agent("s", model="m", instructions=script(turns), tools=tools, client=client)
    result = await agent.run("go")
    rows, delete, fetch, calc = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert json.loads(rows)["rows"] == [["tea", 3.5]]
    assert delete.startswith("Error: QueryRefused") and "readonly" in delete
    assert fetch.startswith("Error: FetchRefused") and "allow_hosts" in fetch
    assert calc == "1024"


async def test_a_retriever_as_a_tool_and_long_term_memory_scoped_per_user_and_tenant(
        client: switchyard.AsyncClient) -> None:
    retriever = WordRetriever({
        "default": [Chunk("doc#1", "the gateway routes requests", {"source": "guide.md"})],
        "acme": [Chunk("m1", "ann prefers tea", {"user": "ann"}), Chunk("m2", "bob prefers coffee", {"user": "bob"})],
    })
    search, recall = retriever_tool(retriever, k=3), long_term_memory(retriever)
    turns = [{"tools": [call("search", query="gateway routes"), call("recall", query="what does she prefers")]}, "ok"]
    agent = Agent("r", model="m", instructions=script(turns), tools=[search, recall], client=client)
    result = await agent.run("go", user="ann", tenant="acme")
    found, recalled = [json.loads(m["content"]) for m in result.messages if m["role"] == "tool"]
    assert [h["id"] for h in found] == ["doc#1"] and found[0]["source"] == "guide.md"
    assert [h["text"] for h in recalled] == ["ann prefers tea"]  # never bob's
    assert retriever.asked[1][1:] == ("acme", {"user": "ann"})
    anonymous = await agent.run("go")
    assert anonymous.messages[3]["content"] == "Error: recall is scoped per tenant and this run has none."


async def test_handoffs_agents_as_tools_and_a_supervisor(client: switchyard.AsyncClient) -> None:
    # the script counts the conversation's answers: triage's handoff was the first
    billing = Agent("billing", model="m", description="the billing team (invoices, refunds)",
                    instructions=script(["(triage's)", "Your invoice is paid."]), client=client)
    triage = Agent("triage", model="m", instructions=script([call("transfer_to_billing")]), handoffs=[billing],
                   client=client)
    events = [e async for e in triage.stream("Is my invoice paid?")]
    assert [e for e in events if isinstance(e, HandedOff)] == [HandedOff("triage", "billing")]
    result = events[-1].result  # type: ignore[union-attr]
    assert (result.agent, result.output) == ("billing", "Your invoice is paid.")

    # a supervisor: two specialists as tools, asked in parallel; their tokens and cost count in its run
    researcher = Agent("researcher", model="m", instructions=script(["Oslo has 700,000 people."]), client=client)
    writer = Agent("writer", model="m", instructions=script(["Oslo: a city of 700,000."]), client=client)
    supervisor = Agent("supervisor", model="m", tools=[researcher.as_tool(), writer.as_tool()], client=client,
                       instructions=script([{"tools": [call("researcher", input="How big is Oslo?"),
                                                       call("writer", input="Write a line on Oslo")]},
                                            "Done: Oslo: a city of 700,000."]))
    events = [e async for e in supervisor.stream("Tell me about Oslo")]
    outputs = tool_outputs(events)
    assert outputs == {"researcher": ("Oslo has 700,000 people.", False), "writer": ("Oslo: a city of 700,000.", False)}
    final = events[-1].result  # type: ignore[union-attr]
    assert final.output == "Done: Oslo: a city of 700,000."
    own = [e for e in events if getattr(e, "type", "") == "usage" and e.agent == "supervisor"]
    assert final.turns == 2 and len(own) == 2
    assert final.cost_usd > sum(e.cost_usd for e in own) > 0  # the specialists' calls are in it
