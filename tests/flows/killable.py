"""The flow the kill test runs in a subprocess: a loop of rounds, each a model step, three
gathered model steps and two branches of two model steps, over a mock upstream on loopback.

``python -m tests.flows.killable DB_PATH UPSTREAM_URL RUN_ID ROUNDS`` opens the engine (which
recovers the run if a previous process was killed mid-way), joins the run by its id and prints
its outcome as one JSON line.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from switchyard.flows import FlowEngine, Run


def ask(run: Run, name: str, content: str) -> Any:
    return run.model(name, model="chat", messages=[{"role": "user", "content": content}], retries=2)


async def branch(run: Run, item: str) -> str:
    draft = await ask(run, "draft", f"draft {item}")
    polished = await ask(run, "polish", f"polish {item}: {draft.text}")
    return polished.text


async def killable(run: Run, rounds: int) -> list[Any]:
    notes = []
    for r in range(rounds):
        plan = await ask(run, f"plan-{r}", f"plan {r}")
        fetched = await asyncio.gather(*(ask(run, f"fetch-{r}-{i}", f"fetch {r}.{i}") for i in range(3)))
        branches = await run.map(branch, [f"{r}.{i}" for i in range(2)])
        notes.append({"plan": plan.text, "fetched": [f.text for f in fetched], "branches": branches})
    return notes


def config(upstream: str) -> dict[str, Any]:
    return {"models": {"chat": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                 "base_url": upstream, "api_key": "sk-test"}]}}}


async def main(path: str, upstream: str, run_id: str, rounds: int) -> None:
    engine = FlowEngine(f"sqlite:///{path}", config=config(upstream))
    engine.register("killable", killable)
    async with engine:
        print("ready", flush=True)
        handle = await engine.start("killable", rounds, run_id=run_id)
        outcome = await handle.outcome(timeout=60)
        print(orjson.dumps(outcome.as_dict()).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
