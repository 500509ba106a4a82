"""An agent run as a durable flow: the flows engine (``switchyard.flows``, issue 18) as the
agent's ``StepRunner``.

``FlowSteps`` maps the agent's steps onto a flow run's: ``step`` is ``run.step`` (journaled;
a resumed run gets the journaled result back instead of calling the model or the tool
again), ``wait`` is ``run.wait_for`` (an approval survives a restart), ``signal`` is
``engine.send``. ``agent_flow`` registers an agent as a flow, so starting, resuming,
cancelling, limits and events are the engine's::

    engine = FlowEngine("sqlite:///flows.db", client=client)
    agent_flow(engine, support)                       # the flow "agent:support"
    handle = await engine.start("agent:support", {"input": "Refund order A1", "session": "s1"})

The flows package is imported only when this module is used: the agents work without it
(on ``InProcessSteps``, not durable).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from switchyard.agents.agent import Agent

T = TypeVar("T")
#: A wait without a timeout (the engine wants one): thirty days.
FOREVER = 30 * 86_400.0


class FlowSteps:
    """A flow run (``switchyard.flows.Run``) as an agent's step runner: durable."""

    durable = True

    def __init__(self, run: Any, engine: Any = None) -> None:
        self.run = run
        self.engine = engine

    async def step(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        result: T = await self.run.step(name, fn)
        return result

    async def wait(self, key: str, timeout: float | None = None) -> Any:
        from switchyard.flows import EventTimeout

        try:
            return await self.run.wait_for(key, FOREVER if timeout is None else timeout)
        except EventTimeout:
            raise TimeoutError(f"no {key!r} within {timeout} s") from None

    async def signal(self, key: str, payload: Any) -> None:
        if self.engine is None:
            raise RuntimeError("signal: these steps were made without the engine; use engine.send")
        await self.engine.send(_run_id(self.run), key, payload)


def agent_flow(engine: Any, agent: Agent, name: str | None = None) -> str:
    """Register ``agent`` as the flow ``name`` (default ``agent:<name>``); its input is the run's
    text, or a dict of ``input`` and optionally ``session``, ``user``, ``tenant``."""
    flow_name = name or f"agent:{agent.name}"

    async def agent_run(run: Any, given: Any) -> dict[str, Any]:
        options = dict(given) if isinstance(given, dict) else {"input": given}
        text = options.pop("input", None)
        unknown = set(options) - {"session", "user", "tenant"}
        if unknown:
            raise ValueError(f"input.{sorted(unknown)[0]}: not an agent run option (session, user, tenant)")
        result = await agent.run(text, steps=FlowSteps(run, engine), run_id=_run_id(run),
                                 client=getattr(engine, "client", None), **options)  # None: the agent's own
        return result.to_dict()

    agent_run.__name__ = agent_run.__qualname__ = flow_name.replace(":", "_")
    engine.flow(flow_name)(agent_run)
    return flow_name


def _run_id(run: Any) -> str:
    for attribute in ("run_id", "id", "workflow_id"):
        value = getattr(run, attribute, None)
        if isinstance(value, str) and value:
            return value
    raise RuntimeError("the flow run has no id")
