"""The three example agents, end to end on the fake provider (scripted tool calls):

- a support agent: session memory across three turns, a person's approval before a refund;
- a data agent: read-only SQL on the local PostgreSQL, its answer as a pydantic type;
- a research agent: retrieval over a small corpus and the HTTP fetch service on loopback.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pydantic
import pytest

import switchyard
from switchyard.agents import Agent, ApprovalRequested, SessionMemory, ToolReturned, tool
from switchyard.agents.retrieval import retriever_tool
from switchyard.agents.services import service_tools
from switchyard.storage import open_store
from switchyard.storage.migrate import upgrade
from tests.agents.retrievers import Chunk, WordRetriever
from tests.agents.scripts import call, script

SUPPORT_SCRIPT = {
    "broken": [call("lookup_order", order="A1"), "Sorry about that, Ann: order A1 (a teapot) was delivered Monday."],
    "refund": [call("refund", order="A1", amount=39.5), "Done: 39.50 EUR are on their way back to you."],
    "name": ["You are Ann, and we refunded order A1."],
}


class Recording:
    """The client, remembering the messages of each model call."""

    def __init__(self, client: switchyard.AsyncClient) -> None:
        self.client = client
        self.messages: list[list[dict[str, Any]]] = []

    def stream(self, **request: Any) -> AsyncIterator[Any]:
        self.messages.append(request["messages"])
        return self.client.stream(**request)


async def test_a_support_agent_remembers_a_session_and_asks_before_refunding(tmp_path: Path) -> None:
    refunded: list[tuple[str, float]] = []

    @tool
    def lookup_order(order: str) -> dict[str, str]:
        """Find an order by id."""
        return {"order": order, "item": "teapot", "status": "delivered Monday"}

    @tool(needs_approval=True)
    def refund(order: str, amount: float) -> str:
        """Refund an order (a person approves every refund first)."""
        refunded.append((order, amount))
        return f"refund of {amount} EUR on {order} issued"

    url = f"sqlite:///{tmp_path / 'support.db'}"
    await upgrade(url)
    store = open_store(url)
    config = {"models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}}
    try:
        async with switchyard.AsyncClient(config) as client:
            support = Agent("support", model="chat", client=client, tools=[lookup_order, refund],
                            memory=SessionMemory(store), instructions=script(SUPPORT_SCRIPT, "You are a support agent."))
            first = await support.run("Hi, I'm Ann. My order A1 arrived broken.", session="ann-1")
            assert first.output.startswith("Sorry about that, Ann")

            approvals = []
            async for event in support.stream("Can I get a refund?", session="ann-1"):
                if isinstance(event, ApprovalRequested):
                    approvals.append(event)
                    assert refunded == []  # waiting: nothing refunded yet
                    await support.decide(event.key, approved=True, reason="damaged in transit")
                if isinstance(event, ToolReturned):
                    assert event.output == "refund of 39.5 EUR on A1 issued"
            assert [(a.name, json.loads(a.arguments)) for a in approvals] == [("refund", {"order": "A1", "amount": 39.5})]
            assert refunded == [("A1", 39.5)]

            seen = Recording(client)
            third = await support.run("Do you remember my name?", session="ann-1", client=seen)
            assert third.output == "You are Ann, and we refunded order A1."
            # the third turn's model call saw the whole session: both earlier exchanges, tool calls included
            assert [m["role"] for m in seen.messages[0]] == \
                ["system"] + ["user", "assistant", "tool", "assistant"] * 2 + ["user"]
            assert seen.messages[0][1]["content"] == "Hi, I'm Ann. My order A1 arrived broken."
            history = await support.memory.messages("ann-1")  # type: ignore[union-attr]
            assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant"] * 2 + ["user", "assistant"]
            assert await support.memory.messages("bob-1") == []  # type: ignore[union-attr]

        # the session is in SQLite: another process (another store) reads it back
        again = open_store(url)
        try:
            assert len(await SessionMemory(again).messages("ann-1")) == 10
        finally:
            await again.aclose()
    finally:
        await store.aclose()


class Revenue(pydantic.BaseModel):
    region: str
    total_eur: float


@pytest.fixture
async def sales_table(postgres_server: str) -> AsyncIterator[str]:
    table = f"sales_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(postgres_server)
    try:
        await connection.execute(f"CREATE TABLE {table} (region TEXT, amount NUMERIC)")
        await connection.executemany(f"INSERT INTO {table} VALUES ($1, $2)",
                                     [("north", 120.5), ("north", 79.5), ("south", 50)])
        yield table
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.close()


async def test_a_data_agent_reads_postgresql_and_cannot_write(postgres_server: str, sales_table: str) -> None:
    turns = [{"tools": [call("sql__query", sql=f"SELECT region, sum(amount) FROM {sales_table} GROUP BY region "
                                              "ORDER BY region"),
                        call("sql__query", sql=f"DELETE FROM {sales_table}")]},
             '{"region": "north", "total_eur": 200.0}']
    config = {"models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}}
    async with switchyard.AsyncClient(config) as client:
        analyst = Agent("analyst", model="chat", client=client, output_type=Revenue,
                        tools=service_tools({"sql": {"url": postgres_server, "max_rows": 100}}),
                        instructions=script(turns, "Answer questions about sales with SQL."))
        result = await analyst.run("Which region sold most?")
    rows, delete = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert json.loads(rows)["rows"] == [["north", "200.0"], ["south", "50"]]
    assert delete.startswith("Error: QueryRefused") and "read-only transaction" in delete
    assert result.output == Revenue(region="north", total_eur=200.0)
    connection = await asyncpg.connect(postgres_server)
    try:
        assert await connection.fetchval(f"SELECT count(*) FROM {sales_table}") == 3  # nothing was deleted
    finally:
        await connection.close()


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"Oslo: population 709,000 (2024). Founded around 1040." if self.path == "/oslo" else b"not here"
        self.send_response(200 if self.path == "/oslo" else 404)
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_a_research_agent_retrieves_then_fetches_its_source(site: str) -> None:
    corpus = WordRetriever({"default": [
        Chunk("cities#1", "oslo is the capital of norway", {"source": f"http://{site}/oslo"}),
        Chunk("cities#2", "bergen is a rainy city on the west coast", {"source": f"http://{site}/bergen"}),
    ]})
    turns = [call("search", query="capital of norway"), call("fetch__get", url=f"http://{site}/oslo"),
             "Oslo, the capital of Norway, has about 709,000 people (source: the city's page)."]
    config = {"models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}}
    async with switchyard.AsyncClient(config) as client:
        researcher = Agent("researcher", model="chat", client=client,
                           tools=[retriever_tool(corpus, k=2), *service_tools({"fetch": {"allow_hosts": [site]}})],
                           instructions=script(turns, "Search, then read the source before answering."))
        result = await researcher.run("How many people live in Norway's capital?")
    found, page = [json.loads(m["content"]) for m in result.messages if m["role"] == "tool"]
    assert found[0]["id"] == "cities#1" and found[0]["source"] == f"http://{site}/oslo"
    assert page["status"] == 200 and "709,000" in page["text"]
    assert result.output.startswith("Oslo, the capital of Norway") and result.tool_calls == 2
