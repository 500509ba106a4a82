"""Durable flows: async Python functions of model calls, tools and database steps that
survive a kill, on DBOS Transact (SQLite embedded, PostgreSQL to scale out).

A flow is an ``async def flow(run, input)``; everything it does that must not run twice
goes through ``run``::

    from switchyard.flows import FlowEngine, Limits

    engine = FlowEngine("sqlite:///flows.db")           # or postgresql://…; client= an AsyncClient

    @engine.flow("research")
    async def research(run, question):
        plan = await run.model("plan", model="fake/echo", messages=[{"role": "user", "content": question}])
        notes = await asyncio.gather(*(run.step(f"fetch-{i}", fetch, line)     # parallel steps
                                      for i, line in enumerate(plan.text.split(". "))))
        while (await run.model("critic", model="fake/echo", messages=[...])).text != "ok":   # loops are loops
            ...
        decision = await run.wait_for("approval", timeout=3600)                # a human, by API or CLI
        return {"notes": notes, "approved": decision}

    async with engine:
        handle = await engine.start("research", "why is the sky blue?", limits=Limits(model_calls=20, usd=0.5))
        async for event in engine.events(handle.run_id):                     # step started / finished / tokens
            print(event)
        outcome = await handle.outcome()                                     # .status, .output, .totals

The protocol a flow (or an agent built on it) relies on — ``Run``:

- ``await run.step(name, fn, *args, retries=0, timeout=None, **kwargs)``: call ``fn`` (sync or
  async) once; its result is journaled before the flow moves on and a resumed run gets the
  journaled result back instead of calling it again. ``retries``/``timeout`` are per step.
- ``await run.model(name, model=..., messages=..., **params)``: a model step through the
  engine's ``switchyard.AsyncClient`` (the gateway's limits, cache, budgets and spend apply);
  journals the exact request and response, the usage and the USD the gateway priced it at.
  Returns a ``ModelAnswer`` (``.text``, ``.response``, ``.usage``, ``.usd``).
- ``await run.wait_for(event, timeout)``: the value ``engine.send(run_id, event, value)`` (or
  ``switchyard flow send``, ``POST /admin/flows/runs/{id}/events/{event}``) delivered;
  ``EventTimeout`` when none came in time. Durable: a resumed run does not wait again.
- ``await run.parallel(branch, ...)`` / ``await run.map(branch, items, concurrency=N)``:
  branches of several steps each (``async def branch(run, item)``, importable functions), each
  a child run of its own; fan-out returns the list of their results, in order.
- ``await run.subflow(name, input)``: another registered flow as a child run.

Branches, loops and parallelism are plain ``if``/``for``/``while`` and ``asyncio.gather`` of
steps. Determinism is the one rule: a flow must start its steps in the same order when
replayed (DBOS numbers them), so anything that varies — time, randomness, I/O — is a step.

A run has ``Limits`` (steps, model calls, tokens, USD, wall seconds); hitting one stops the
run cleanly with status ``stopped`` and the limit named. Cancel with ``engine.cancel``;
resume a cancelled or crashed run with ``engine.resume``. Flows written in YAML run on the
same engine (``switchyard.flows.spec``).
"""

from switchyard.flows.engine import FlowEngine, RunHandle
from switchyard.flows.errors import EventTimeout, FlowError, FlowNotFound, LimitReached
from switchyard.flows.limits import Limits, Totals
from switchyard.flows.outcome import RunOutcome
from switchyard.flows.run import ModelAnswer, Run

__all__ = ["EventTimeout", "FlowEngine", "FlowError", "FlowNotFound", "LimitReached", "Limits", "ModelAnswer",
           "Run", "RunHandle", "RunOutcome", "Totals"]
