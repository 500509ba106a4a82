"""Streams settle once, however they end: exhausted, failed, or closed early."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import switchyard
from switchyard.core.messages import Chunk, Usage
from switchyard.core.settling import Settling


async def _chunks(n: int, fail: bool = False) -> Any:
    for i in range(n):
        yield Chunk(data={"i": i}, usage=Usage(1, i) if i == n - 1 else None)
    if fail:
        raise RuntimeError("dropped")


@pytest.mark.parametrize("how", ["exhausted", "failed", "closed early"])
async def test_settles_exactly_once_with_the_last_usage(how):
    settled: list[Any] = []

    async def settle(usage: Any) -> None:
        settled.append(usage)

    stream = Settling(_chunks(3, fail=how == "failed"), settle)
    if how == "closed early":
        await stream.__anext__()
        await stream.aclose()
        assert settled == [None]
    else:
        with pytest.raises(RuntimeError) if how == "failed" else _nothing():
            async for _ in stream:
                pass
        assert settled == [Usage(1, 2)]
    await stream.aclose()
    assert len(settled) == 1


async def test_an_observer_that_raises_ends_and_settles_the_stream():
    settled: list[Any] = []

    async def settle(usage: Any) -> None:
        settled.append(usage)

    def observe(chunk: Chunk) -> None:
        if chunk.data and chunk.data["i"] == 1:
            raise ValueError("over budget")

    stream = Settling(_chunks(3), settle, observe)
    with pytest.raises(ValueError):
        async for _ in stream:
            pass
    assert settled == [None]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_an_open_stream_counts_as_in_flight_until_it_ends():
    """least_busy balances on in-flight calls, streams included (the load tracker settles them)."""
    config = {"models": {"g": {"strategy": "least_busy", "deployments": [
        {"provider": "fake", "model": "slow", "id": "a", "options": {"first_delay": 0, "chunk_delay": 0.01}},
        {"provider": "fake", "model": "slow", "id": "b", "options": {"first_delay": 0, "chunk_delay": 0.01}}]}}}
    async with switchyard.AsyncClient(config) as client:
        services = client.services
        assert services is not None
        chunks = client.stream(model="g", messages=[{"role": "user", "content": "one two three four"}])
        await chunks.__anext__()
        loads = {d.id: d.load.inflight for d in services.catalog.deployments()}
        assert sorted(loads.values()) == [0, 1]
        async for _ in chunks:
            pass
        await asyncio.sleep(0)
        assert [d.load.inflight for d in services.catalog.deployments()] == [0, 0]

