"""``Agent``: a model alias, instructions, tools, memory and an optional output type behind
one interface — ``run`` (the result), ``stream`` (the events) and ``run_sync``.

Every model call goes through a ``switchyard.AsyncClient``: the gateway's routing,
fallbacks, limits, budgets and accounting apply, and each call's cost is the gateway's
price of it. Every model and tool call is a step of the agent's ``StepRunner`` (see
``steps.py``: the in-process default is not durable).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from switchyard.agents.events import Event, Finished
from switchyard.agents.handoffs import AgentTool, HandoffTool, agent_tool
from switchyard.agents.limits import Limits, Tally
from switchyard.agents.memory import Memory, check_session
from switchyard.agents.output import OutputSpec
from switchyard.agents.result import AgentResult
from switchyard.agents.run import Run, drive
from switchyard.agents.steps import InProcessSteps, StepRunner
from switchyard.agents.tools import NAME, RunContext, Tool, function_tool
from switchyard.agents.toolsets import Toolset

if TYPE_CHECKING:
    from switchyard.client import AsyncClient, Client

Instructions = str | Callable[[RunContext], str]


class Agent:
    """An agent; build it once, run it many times (runs share nothing but its memory and steps)."""

    def __init__(self, name: str, *, model: str, instructions: Instructions = "", description: str = "",
                 tools: Iterable[Tool | Toolset | Callable[..., Any]] = (), handoffs: Iterable[Agent] = (),
                 memory: Memory | None = None, output_type: Any = None, output_mode: str = "auto",
                 output_retries: int = 2, limits: Limits | None = None, steps: StepRunner | None = None,
                 client: AsyncClient | Client | None = None, model_settings: Mapping[str, Any] | None = None,
                 approve: Iterable[str] = (), max_tool_output: int = 65_536) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(f"name: {name!r} must be 1-64 letters, digits, '_' or '-'")
        if not isinstance(model, str) or not model:
            raise ValueError("model: a model alias is required")
        if max_tool_output < 1:
            raise ValueError("max_tool_output: must be at least 1")
        self.name = name
        self.model = model
        self.instructions = instructions
        self.description = description
        self.tools: list[Tool] = []
        self.toolsets: list[Toolset] = []
        for item in tools:
            if isinstance(item, Tool):
                self.tools.append(item)
            elif isinstance(item, Toolset):
                self.toolsets.append(item)
            else:
                self.tools.append(function_tool(item))
        self.handoffs: list[Agent] = list(handoffs)
        self.memory = memory
        self.output = OutputSpec.of(output_type, retries=output_retries, mode=output_mode) \
            if output_type is not None else None
        self.limits = limits or Limits()
        self.steps: StepRunner = steps or InProcessSteps()
        self.client = client
        settings = dict(model_settings or {})
        for reserved in ("model", "messages", "stream", "tools", "response_format"):
            if reserved in settings:
                raise ValueError(f"model_settings.{reserved}: set by the agent, not a setting")
        self.model_settings = settings
        self.approve = frozenset(approve)
        self.max_tool_output = max_tool_output
        self._handoff_tools = [HandoffTool.to(a) for a in self.handoffs]
        names = [t.name for t in self.all_tools()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tools: more than one tool named {', '.join(duplicates)}")
        unknown = sorted(self.approve - set(names))
        if unknown and not self.toolsets:  # a toolset's tools are known once it is connected
            raise ValueError(f"approve: no tool named {', '.join(unknown)}")

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, model={self.model!r}, tools={[t.name for t in self.tools]!r})"

    # -- what the run asks of its agent ------------------------------------------------------
    def all_tools(self) -> list[Tool]:
        return [*self._callable_tools(), *self._handoff_tools]

    def tool_named(self, name: str) -> Tool | None:
        return next((t for t in self._callable_tools() if t.name == name), None)

    def _callable_tools(self) -> list[Tool]:
        if not self.toolsets:
            return self.tools
        tools = list(self.tools)
        for toolset in self.toolsets:
            tools.extend(toolset.list_tools())
        return tools

    def handoff_target(self, name: str) -> Agent | None:
        return next((h.target for h in self._handoff_tools if h.name == name), None)

    def system_messages(self, run: Run) -> list[dict[str, Any]]:
        text = self.instructions(run.context()) if callable(self.instructions) else self.instructions
        if self.output is not None and not self.output.use_schema_mode:
            text = f"{text}\n\n{self.output.instructions()}" if text else self.output.instructions()
        return [{"role": "system", "content": text}] if text else []

    # -- running -----------------------------------------------------------------------------
    async def stream(self, input: str | list[dict[str, Any]], *, session: str | None = None,
                     user: str | None = None, tenant: str | None = None, deps: Any = None,
                     run_id: str | None = None, client: AsyncClient | None = None,
                     steps: StepRunner | None = None, traceparent: str | None = None) -> AsyncIterator[Event]:
        """The run's events as they happen: text deltas, tool calls and results, handoffs,
        approvals asked for, usage, and ``Finished`` with the result last. ``steps``
        replaces the agent's step runner for this run (a flow run's: ``flow_steps.py``)."""
        if session is not None:
            check_session(session)
        owned = None
        if client is None:
            client = self._async_client()
            if client is None:
                from switchyard.client import AsyncClient

                client = owned = AsyncClient()
        run = Run(self, client, steps or self.steps, run_id or uuid.uuid4().hex, session=session, user=user,
                  tenant=tenant, deps=deps, traceparent=traceparent)
        try:
            async for event in drive(run, input):
                yield event
        finally:
            if owned is not None:
                await owned.aclose()

    async def run(self, input: str | list[dict[str, Any]], **options: Any) -> AgentResult:
        """Run to the end; the result (``LimitReached`` at a limit, with the partial result)."""
        async for event in self.stream(input, **options):
            if isinstance(event, Finished):
                result: AgentResult = event.result
                return result
        raise RuntimeError("the run ended without a result")  # drive always finishes or raises

    def run_sync(self, input: str | list[dict[str, Any]], **options: Any) -> AgentResult:
        """``run`` from synchronous code: on the loop of the agent's ``switchyard.Client``
        when it has one, else on a fresh loop with the embedded default."""
        from switchyard.client import Client

        if isinstance(self.client, Client):
            sync = self.client
            return sync.run(self.run(input, client=sync.aio, **options))
        return asyncio.run(self.run(input, **options))

    async def decide(self, key: str, approved: bool, reason: str = "") -> None:
        """A person's decision on a tool call waiting for approval (``ApprovalRequested.key``)."""
        await self.steps.signal(key, {"approved": bool(approved), "reason": reason})

    def as_tool(self, name: str | None = None, description: str | None = None) -> AgentTool:
        """This agent as another agent's tool: it answers the question it is given."""
        return agent_tool(self, name, description)

    async def run_within(self, parent: Run, question: str, call_id: str) -> AgentResult:
        """A run of this agent as a tool of ``parent``'s (for its tool call ``call_id``): its
        events in the parent's stream, its steps named under the parent's, its tokens and
        cost counted in the parent's."""
        run = Run(self, parent.client, parent.steps, f"{parent.run_id}/{self.name}-{call_id}",
                  session=None, user=parent.user, tenant=parent.tenant, deps=parent.deps,
                  tally=Tally(self.limits), queue=parent.queue, traceparent=parent.traceparent)
        try:
            return await run.execute(question)
        finally:
            parent.tally.prompt_tokens += run.tally.prompt_tokens
            parent.tally.completion_tokens += run.tally.completion_tokens
            parent.tally.cost_usd += run.tally.cost_usd

    def _async_client(self) -> AsyncClient | None:
        from switchyard.client import Client

        if isinstance(self.client, Client):
            raise ValueError("client: a switchyard.Client serves run_sync; pass an AsyncClient to run and stream")
        return self.client
