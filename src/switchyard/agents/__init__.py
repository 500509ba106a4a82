"""Agents: a model, tools and memory behind one interface (``Agent``).

See the README's "Agents" section. Public names::

    Agent, AgentResult, Limits, LimitReached, OutputInvalid, AgentError, ToolDefinitionError
    tool, function_tool, Tool, ToolOutput, RunContext
    Memory, SessionMemory, SummarisingMemory
    StepRunner, InProcessSteps
    events: TextDelta, ToolCalled, ToolReturned, HandedOff, ApprovalRequested, UsageReported, Finished
"""

from __future__ import annotations

from switchyard.agents.agent import Agent
from switchyard.agents.errors import AgentError, LimitReached, OutputInvalid, ToolDefinitionError
from switchyard.agents.events import (
    ApprovalRequested,
    Event,
    Finished,
    HandedOff,
    TextDelta,
    ToolCalled,
    ToolReturned,
    UsageReported,
    event_dict,
)
from switchyard.agents.limits import Limits
from switchyard.agents.memory import Memory, SessionMemory
from switchyard.agents.result import AgentResult
from switchyard.agents.steps import InProcessSteps, StepRunner
from switchyard.agents.summary import SummarisingMemory
from switchyard.agents.tools import RunContext, Tool, ToolOutput, function_tool, tool

__all__ = [
    "Agent", "AgentError", "AgentResult", "ApprovalRequested", "Event", "Finished", "HandedOff",
    "InProcessSteps", "LimitReached", "Limits", "Memory", "OutputInvalid", "RunContext", "SessionMemory",
    "StepRunner", "SummarisingMemory", "TextDelta", "Tool", "ToolCalled", "ToolDefinitionError", "ToolOutput", "ToolReturned",
    "UsageReported", "event_dict", "function_tool", "tool",
]
