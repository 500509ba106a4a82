"""One run of an agent: the loop of model calls and tool calls, as steps.

Each turn is one model call (a step named ``<run>/<turn>/model``); the tool calls of an
answer run concurrently, each a step (``<run>/<turn>/tool/<call id>``), a tool that needs
approval first waiting for a person's decision (``<run>/approve/<call id>``). A handoff
passes the conversation to another agent; the run goes on with that agent's
instructions and tools. The loop ends with an answer without tool calls (validated as the
output type when there is one), or at a limit (``LimitReached``, between steps).

Events go through a bounded queue to ``Agent.stream``'s reader: a slow reader slows the
run, never grows the queue; a reader that leaves cancels the run.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
import pydantic

from switchyard.agents.errors import OutputInvalid
from switchyard.agents.events import (
    ApprovalRequested,
    Event,
    Finished,
    HandedOff,
    TextDelta,
    ToolCalled,
    ToolReturned,
    UsageReported,
)
from switchyard.agents.limits import Tally
from switchyard.agents.output import retry_message
from switchyard.agents.result import AgentResult
from switchyard.agents.steps import StepRunner
from switchyard.agents.tools import RunContext, ToolOutput, definition
from switchyard.agents.turns import ModelTurn, call_model

if TYPE_CHECKING:
    from switchyard.agents.agent import Agent

#: Events waiting for a slow reader; the run waits beyond that.
QUEUE = 256
_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


class Run:
    """One run's state: the conversation so far, what it used, its events."""

    def __init__(self, agent: Agent, client: Any, steps: StepRunner, run_id: str, *, session: str | None,
                 user: str | None, tenant: str | None, deps: Any, tally: Tally | None = None,
                 queue: asyncio.Queue[Event] | None = None, traceparent: str | None = None) -> None:
        self.root = agent
        self.agent = agent
        self.client = client
        self.steps = steps
        self.run_id = run_id
        self.session, self.user, self.tenant, self.deps = session, user, tenant, deps
        self.tally = tally or Tally(agent.limits)
        self.queue: asyncio.Queue[Event] = queue or asyncio.Queue(QUEUE)
        self.new: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.started = time.monotonic()
        #: Every model call of the run carries this parent: the run is one trace.
        self.traceparent = traceparent if traceparent and _TRACEPARENT.match(traceparent) else \
            f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"

    async def emit(self, event: Event) -> None:
        await self.queue.put(event)

    def context(self, call_id: str | None = None) -> RunContext:
        return RunContext(self.run_id, self.agent.name, self.session, self.user, self.tenant, self.deps,
                          tool_call_id=call_id, run=self)

    def partial(self, output: Any = None, text: str = "") -> AgentResult:
        tally = self.tally
        return AgentResult(self.run_id, self.agent.name, output, text, list(self.new), tally.turns,
                           tally.tool_calls, tally.prompt_tokens, tally.completion_tokens, tally.cost_usd,
                           time.monotonic() - self.started, self.traceparent.split("-")[1])

    # -- the loop ---------------------------------------------------------------------------
    async def execute(self, user_input: str | list[dict[str, Any]]) -> AgentResult:
        memory = self.root.memory
        if memory is not None and self.session is not None:
            self.history = await memory.messages(self.session)
        self.new.extend(_as_messages(user_input))
        retries_left = None
        while True:
            self.tally.check(self.partial())
            turn = await self._model_turn()
            self.new.append(turn.message)
            calls = turn.tool_calls
            if calls:
                self.tally.check_tools(len(calls), self.partial())
                await self._tools(calls)
                continue
            spec = self.agent.output
            if spec is None:
                return await self._finish(turn.text, turn.text)
            try:
                value = spec.validate(turn.text)
            except pydantic.ValidationError as exc:
                retries_left = spec.retries if retries_left is None else retries_left
                if retries_left <= 0:
                    raise OutputInvalid(f"the answer did not validate as {spec.name} after {spec.retries} "
                                        f"retries: {retry_message(exc)}") from None
                retries_left -= 1
                self.new.append({"role": "user", "content": retry_message(exc)})
                continue
            return await self._finish(value, turn.text)

    async def _finish(self, output: Any, text: str) -> AgentResult:
        memory = self.root.memory
        if memory is not None and self.session is not None:
            await memory.add(self.session, self.new)
        result = self.partial(output, text)
        return result

    async def _model_turn(self) -> ModelTurn:
        agent = self.agent
        name = f"{self.run_id}/{self.tally.turns}/model"
        while True:
            messages = [*agent.system_messages(self), *self.history, *self.new]
            params = dict(agent.model_settings)
            tools = [definition(t) for t in agent.all_tools()]
            if tools:
                params["tools"] = tools
            spec = agent.output
            if spec is not None and spec.use_schema_mode:
                params["response_format"] = spec.response_format()

            async def on_text(piece: str, who: str = agent.name) -> None:
                await self.emit(TextDelta(who, piece))

            async def call(messages: list[dict[str, Any]] = messages, params: dict[str, Any] = params) -> Any:
                left = self.tally.remaining_seconds()
                async with asyncio.timeout(left):
                    turn = await call_model(self.client, agent.model, messages, params, on_text,
                                            {"traceparent": self.traceparent})
                return turn.to_dict()

            try:
                recorded = await self.steps.step(name, call)
            except TimeoutError:
                self.tally.check(self.partial())  # the time limit: LimitReached
                raise
            except Exception as exc:
                if spec is not None and spec.mode == "auto" and _no_schema_mode(exc):
                    spec.mode = "prompt"  # this model has no JSON-schema mode: ask in the instructions
                    continue
                raise
            turn = ModelTurn.from_dict(recorded)
            tally = self.tally
            tally.turns += 1
            tally.prompt_tokens += turn.prompt_tokens
            tally.completion_tokens += turn.completion_tokens
            tally.cost_usd += turn.cost_usd
            await self.emit(UsageReported(agent.name, turn.prompt_tokens, turn.completion_tokens, turn.cost_usd))
            return turn

    async def _tools(self, calls: list[dict[str, Any]]) -> None:
        agent = self.agent
        turn = self.tally.turns
        self.tally.tool_calls += len(calls)
        handoff = None
        outputs: dict[str, ToolOutput] = {}
        work = []
        for call in calls:
            function = call.get("function") or {}
            name, arguments = str(function.get("name") or ""), str(function.get("arguments") or "")
            await self.emit(ToolCalled(agent.name, call["id"], name, arguments))
            target = agent.handoff_target(name)
            if target is not None:
                if handoff is None:
                    handoff = target
                    outputs[call["id"]] = ToolOutput(f"Transferred to {target.name}.")
                else:
                    outputs[call["id"]] = ToolOutput("Only one handoff per answer; this one was not made.", True)
                continue
            work.append(self._tool(turn, call["id"], name, arguments))
        for call_id, output in await asyncio.gather(*work):
            outputs[call_id] = output
        for call in calls:
            function = call.get("function") or {}
            output = outputs[call["id"]]
            await self.emit(ToolReturned(agent.name, call["id"], str(function.get("name") or ""), output.text,
                                         output.is_error))
            self.new.append({"role": "tool", "tool_call_id": call["id"], "content": output.text})
        if handoff is not None:
            await self.emit(HandedOff(agent.name, handoff.name))
            self.agent = handoff

    async def _tool(self, turn: int, call_id: str, name: str, arguments: str) -> tuple[str, ToolOutput]:
        agent = self.agent
        tool = agent.tool_named(name)
        if tool is None:
            known = ", ".join(t.name for t in agent.all_tools()) or "none"
            return call_id, ToolOutput(f"There is no tool named {name!r}; the tools are: {known}.", True)
        if tool.needs_approval or name in agent.approve:
            key = f"{self.run_id}/approve/{call_id}"
            await self.emit(ApprovalRequested(agent.name, key, call_id, name, arguments))
            try:
                decision = await self.steps.wait(key, self.tally.limits.approval_timeout)
            except TimeoutError:
                return call_id, ToolOutput(f"The call to {name} was not approved in time; it did not run.", True)
            approved, reason = _decision(decision)
            if not approved:
                why = f": {reason}" if reason else ""
                return call_id, ToolOutput(f"The call to {name} was refused by a person{why}. It did not run.", True)
        context = self.context(call_id)
        limit = agent.max_tool_output

        async def invoke() -> Any:
            output = await tool.invoke(arguments, context)
            text = output.text
            if len(text) > limit:
                text = text[:limit] + f"\n[cut: the tool's output was {len(output.text)} characters; {limit} kept]"
            return {"text": text, "is_error": output.is_error}

        recorded = await self.steps.step(f"{self.run_id}/{turn}/tool/{call_id}", invoke)
        return call_id, ToolOutput(str(recorded["text"]), bool(recorded["is_error"]))


async def drive(run: Run, user_input: str | list[dict[str, Any]]) -> AsyncIterator[Event]:
    """The run's events as they happen, ending with ``Finished``; its error is raised here."""
    task = asyncio.ensure_future(run.execute(user_input))
    try:
        while True:
            getter = asyncio.ensure_future(run.queue.get())
            await asyncio.wait((getter, task), return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
                continue
            getter.cancel()
            while not run.queue.empty():
                yield run.queue.get_nowait()
            yield Finished(task.result())
            return
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _as_messages(user_input: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(user_input, str):
        return [{"role": "user", "content": user_input}]
    if isinstance(user_input, list) and all(isinstance(m, dict) and "role" in m for m in user_input):
        return [dict(m) for m in user_input]
    raise ValueError("input: must be a string or a list of messages with a role each")


def _decision(payload: Any) -> tuple[bool, str]:
    if isinstance(payload, bool):
        return payload, ""
    if isinstance(payload, (bytes, str)):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False, "an unreadable decision"
    if isinstance(payload, dict):
        return payload.get("approved") is True, str(payload.get("reason") or "")[:500]
    return False, "an unreadable decision"


def _no_schema_mode(exc: Exception) -> bool:
    from switchyard.core.errors import CapabilityMissing

    return isinstance(exc, CapabilityMissing) and getattr(exc, "param", None) == "response_format"
