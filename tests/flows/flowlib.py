"""Module-level flows and branches the engine tests use (a resumed run imports branches by name)."""

from __future__ import annotations

import asyncio
from typing import Any

from switchyard.flows import Run

#: A priced fake model: $1 per million input and output tokens.
PRICED = {"models": {"priced": {"deployments": [{"provider": "fake", "model": "echo",
                                                 "price": {"input": 1_000_000, "output": 1_000_000}}]}}}


async def twice(run: Run, item: int) -> int:
    first = await run.step("one", lambda: item)
    return int(await run.step("two", lambda: first * 2))


async def chatty(run: Run, rounds: int) -> list[str]:
    """A model step per round: for the limits."""
    said = []
    for i in range(rounds):
        answer = await run.model(f"say-{i}", model="priced", messages=[{"role": "user", "content": f"round {i} words"}])
        said.append(answer.text)
    return said


async def gathered(run: Run, n: int) -> list[Any]:
    return list(await asyncio.gather(*(run.step(f"s{i}", lambda i=i: i * i) for i in range(n))))
