"""Conversation memory per session on every store (memory, SQLite, PostgreSQL, Redis), and the
summarising memory that keeps a session within a token budget."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import switchyard
from switchyard.agents import Agent, SessionMemory
from switchyard.agents.memory import trim
from switchyard.agents.summary import SUMMARY, SummarisingMemory
from switchyard.core.tokens import TokenCounter
from switchyard.storage import Store, open_store
from switchyard.storage.migrate import upgrade
from tests.agents.scripts import script


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    name = request.param
    prefix = f"sytest:{uuid.uuid4().hex[:12]}:"
    if name == "memory":
        url = "memory://"
    elif name == "sqlite":
        url = f"sqlite:///{tmp_path / 'agents.db'}"
        await upgrade(url)
    elif name == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = request.getfixturevalue("postgres_url")
        await upgrade(url)
    opened = open_store(url, prefix=prefix)
    try:
        yield opened
    finally:
        if name == "redis":
            keys = [k async for k in opened.client.scan_iter(match=prefix + "*")]  # type: ignore[attr-defined]
            if keys:
                await opened.client.delete(*keys)  # type: ignore[attr-defined]
        await opened.aclose()


async def test_a_session_remembers_across_runs_and_concurrent_appends_all_land(
        store: Store, client: switchyard.AsyncClient) -> None:
    memory = SessionMemory(store, max_messages=50)
    turns = ["Hello Ann.", "Your name is Ann."]  # the script counts answers across the whole session
    agent = Agent("chat", model="m", instructions=script(turns), memory=memory, client=client)
    await agent.run("My name is Ann.", session="s1")
    second = await agent.run("What is my name?", session="s1")
    assert second.output == "Your name is Ann."
    assert [m["content"] for m in await memory.messages("s1")] == \
        ["My name is Ann.", "Hello Ann.", "What is my name?", "Your name is Ann."]
    assert await memory.messages("s2") == []

    await asyncio.gather(*(memory.add("s3", [{"role": "user", "content": str(i)}]) for i in range(10)))
    assert sorted(int(m["content"]) for m in await memory.messages("s3")) == list(range(10))
    await memory.clear("s1")
    assert await memory.messages("s1") == []


def test_memory_is_bounded_and_never_opens_on_a_tool_result() -> None:
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": []},
                {"role": "tool", "content": "r"}, {"role": "assistant", "content": "a"},
                {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]
    assert trim(messages, 4) == messages[4:]  # not from the tool result, from the next user message
    assert trim(messages, 10) == messages
    with pytest.raises(ValueError, match="max_messages"):
        SessionMemory(open_store("memory://"), max_messages=1)
    with pytest.raises(ValueError, match="session:"):
        asyncio.run(SessionMemory(open_store("memory://")).messages(""))


async def test_the_summarising_memory_keeps_the_session_within_its_budget(client: switchyard.AsyncClient) -> None:
    counter = TokenCounter()
    inner = SessionMemory(open_store("memory://"))
    memory = SummarisingMemory(inner, client=client, model="m", max_tokens=120, keep_tokens=60, counter=counter,
                               instructions=script(["The user is Ann; she ordered A1 and asked about its delivery."]))
    agent = Agent("chat", model="m", instructions="Be brief.", memory=memory, client=client)
    for n in range(6):
        await agent.run(f"Message number {n}: " + "some words about my order " * 4, session="s")
        stored = await memory.messages("s")
        assert counter.count_messages(stored) <= 120
    assert memory.summaries >= 1
    assert stored[0] == {"role": "system", "content": SUMMARY + "The user is Ann; she ordered A1 and asked about "
                                                                "its delivery."}
    assert stored[-2]["content"].startswith("Message number 5:")  # the newest exchange is kept as it was
