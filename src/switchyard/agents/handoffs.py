"""Multi-agent: a handoff passes the conversation to another agent; an agent as a tool
answers one question for its caller and hands back its final output.

A handoff is shown to the model as a tool ``transfer_to_<name>`` (described by the target's
``description``); when the model calls it, the run goes on with the target's instructions
and tools over the same conversation. An agent as a tool runs a run of its own (its own
instructions, tools and limits; its steps named under the caller's, so a durable runner
journals them too), and its tokens and cost count in the caller's run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from switchyard.agents.errors import AgentError
from switchyard.agents.tools import RunContext, ToolOutput, as_text

if TYPE_CHECKING:
    from switchyard.agents.agent import Agent

_NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
_INPUT: dict[str, Any] = {"type": "object", "properties": {"input": {"type": "string", "description":
                          "what to ask the agent, with everything it needs to know"}},
                          "required": ["input"], "additionalProperties": False}


def handoff_name(agent: Agent) -> str:
    return f"transfer_to_{agent.name}"[:64]


@dataclass(slots=True)
class HandoffTool:
    """What the model sees of a handoff (the run acts on the call; ``invoke`` is never reached)."""

    target: Agent
    name: str
    description: str
    parameters: dict[str, Any]
    needs_approval: bool = False

    @classmethod
    def to(cls, target: Agent) -> HandoffTool:
        about = target.description or f"the {target.name} agent"
        return cls(target, handoff_name(target), f"Hand the conversation to {about}.", _NO_ARGUMENTS)

    async def invoke(self, arguments: str, context: RunContext) -> ToolOutput:
        return ToolOutput(f"Transferred to {self.target.name}.")


@dataclass(slots=True)
class AgentTool:
    """An agent answering its caller's question as a tool (``Agent.as_tool``)."""

    agent: Agent
    name: str
    description: str
    parameters: dict[str, Any]
    needs_approval: bool = False

    async def invoke(self, arguments: str, context: RunContext) -> ToolOutput:
        try:
            question = orjson.loads(arguments or "{}").get("input")
        except (orjson.JSONDecodeError, AttributeError):
            question = None
        if not isinstance(question, str) or not question.strip():
            return ToolOutput(f"Invalid arguments for tool {self.name}: input: a non-empty string is required.",
                              True)
        parent = context.run
        try:
            result = await self.agent.run_within(parent, question, context.tool_call_id or "call")
        except AgentError as exc:
            return ToolOutput(f"Error: the {self.agent.name} agent stopped: {exc}", True)
        return ToolOutput(as_text(result.output))


def agent_tool(agent: Agent, name: str | None = None, description: str | None = None) -> AgentTool:
    return AgentTool(agent, (name or agent.name)[:64], description or agent.description or
                     f"Ask the {agent.name} agent.", _INPUT)
