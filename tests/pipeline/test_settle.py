"""The pipeline's way out: usage recorded on the call, settlers run exactly once.

A stage that reserves something before the call (a budget, a limit) registers
``call.on_settle``; these tests hold the pipeline to "exactly once, with the
usage, on every way a request can end" — success, failure, a stream that
completes, one that breaks after its first chunk, and one its client drops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import switchyard
from switchyard.core.call import Call
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import validate_chat
from switchyard.core.registry import StageRegistry
from switchyard.core.stage import Streaming, Unary


class Ledger:
    """A stage that registers a settler on every call and records what it heard."""

    def __init__(self, heard: list[tuple[str, Any]]) -> None:
        self.heard = heard

    def _register(self, call: Call) -> None:
        async def settled(done: Call) -> None:
            self.heard.append((done.request_id, done.usage))

        call.on_settle(settled)

    async def unary(self, call: Call, next: Unary) -> Any:
        self._register(call)
        return await next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        self._register(call)
        return await next(call)


def _config() -> dict[str, Any]:
    return {"models": {"echo": {"deployments": [{"provider": "fake", "model": "echo"}]},
                       "broken": {"deployments": [{"provider": "fake", "model": "break"}]},
                       "failing": {"deployments": [{"provider": "fake", "model": "fail"}]}},
            "reliability": {"retry": {"attempts": 1}},
            "pipeline": {"stages": [{"name": "ledger", "after": "resolve"}]}}


def _chat(model: str, stream: bool = False) -> Any:
    return validate_chat({"model": model, "stream": stream,
                          "messages": [{"role": "user", "content": "one two three four five six"}]})


async def _with_client(heard: list[Any], body: Any) -> None:
    registry = StageRegistry({"ledger": lambda options, context: Ledger(heard)}, use_entry_points=False)
    async with switchyard.AsyncClient(_config(), stages=registry) as client:
        assert client.services is not None
        await body(client.services.pipeline)


def test_a_unary_answer_settles_once_with_its_usage():
    heard: list[Any] = []

    async def body(pipeline: Any) -> None:
        call = Call("u1")
        answer = await pipeline.chat(_chat("echo"), call)
        assert call.usage is answer.usage and answer.usage.total_tokens > 0
        assert call.settlers is None  # spent: they cannot run twice

    asyncio.run(_with_client(heard, body))
    assert len(heard) == 1 and heard[0][0] == "u1" and heard[0][1].total_tokens > 0


def test_a_failed_unary_call_settles_once_without_usage():
    heard: list[Any] = []

    async def body(pipeline: Any) -> None:
        with pytest.raises(SwitchyardError):
            await pipeline.chat(_chat("failing"), Call("f1"))

    asyncio.run(_with_client(heard, body))
    assert heard == [("f1", None)]


def test_a_stream_settles_once_at_its_end_not_when_it_opens():
    heard: list[Any] = []

    async def body(pipeline: Any) -> None:
        call = Call("s1")
        chunks = await pipeline.stream(_chat("echo", stream=True), call)
        assert heard == []  # open, not finished: nothing settled yet
        words = [c async for c in chunks]
        assert words and call.usage is not None and call.usage.completion_tokens > 0
        await chunks.aclose()  # closing an ended stream settles nothing twice

    asyncio.run(_with_client(heard, body))
    assert len(heard) == 1 and heard[0][0] == "s1" and heard[0][1].completion_tokens > 0


def test_a_stream_that_breaks_midway_and_one_dropped_early_each_settle_once():
    heard: list[Any] = []

    async def body(pipeline: Any) -> None:
        broken = await pipeline.stream(_chat("broken", stream=True), Call("b1"))
        with pytest.raises(SwitchyardError):
            async for _ in broken:
                pass
        dropped = await pipeline.stream(_chat("echo", stream=True), Call("d1"))
        await dropped.__anext__()
        await dropped.aclose()  # the client went away after one chunk
        await dropped.aclose()

    asyncio.run(_with_client(heard, body))
    assert [rid for rid, _ in heard] == ["b1", "d1"]


def test_one_failing_settler_does_not_stop_the_others(caplog):
    ran: list[str] = []

    async def body(pipeline: Any) -> None:
        call = Call("x1")

        async def broken(_: Call) -> None:
            raise RuntimeError("settler bug")

        async def fine(_: Call) -> None:
            ran.append("fine")

        call.on_settle(broken)
        call.on_settle(fine)
        await pipeline.chat(_chat("echo"), call)

    asyncio.run(_with_client([], body))
    assert ran == ["fine"]
    assert any(r.getMessage() == "settle failed" for r in caplog.records)


def test_plain_function_settlers_and_last_ones_run_after_the_others():
    """A settler may be a plain function (nothing awaited); ``last=True`` ones run after every
    other, even one registered later (metrics read what the inner stages' settlers recorded)."""
    order: list[str] = []
    call = Call("r1")

    async def inner(done: Call) -> None:
        order.append("inner-async")

    call.on_settle(lambda done: order.append("last"), last=True)
    call.on_settle(lambda done: order.append("plain"))
    call.on_settle(inner)
    assert call.settlers is not None
    asyncio.run(call.settle())
    assert order == ["plain", "inner-async", "last"]
    asyncio.run(call.settle())  # exactly once
    assert order == ["plain", "inner-async", "last"]


def test_a_call_with_only_a_last_settler_is_settled_by_the_pipeline():
    heard: list[str] = []

    class Last:
        def unary(self, call: Call, next: Unary) -> Any:
            call.on_settle(lambda done: heard.append(done.request_id), last=True)
            return next(call)

        async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
            return await next(call)

    async def body() -> None:
        registry = StageRegistry({"last": lambda options, context: Last()}, use_entry_points=False)
        config = {"models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}},
                  "pipeline": {"stages": [{"name": "last", "after": "resolve"}]}}
        async with switchyard.AsyncClient(config, stages=registry) as client:
            request = validate_chat({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
            await client.services.pipeline.chat(request, Call("only-last"))

    asyncio.run(body())
    assert heard == ["only-last"]
