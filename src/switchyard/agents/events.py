"""What a run reports as it goes (``Agent.stream``): text as it is written, tool calls and
their results, handoffs, approvals asked for, each model call's usage, and the end.

Each event is a small frozen value with ``to_dict()`` (its ``type`` and fields), the
shape the HTTP route sends as server-sent events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TextDelta:
    """New text of the answer being written."""

    agent: str
    text: str
    type: str = "text_delta"


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """The model asked for a tool (``arguments`` as the model wrote them, JSON text)."""

    agent: str
    id: str
    name: str
    arguments: str
    type: str = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolReturned:
    """A tool's result as the model will read it; ``is_error`` when it failed or was refused."""

    agent: str
    id: str
    name: str
    output: str
    is_error: bool = False
    type: str = "tool_result"


@dataclass(frozen=True, slots=True)
class HandedOff:
    """The conversation passed from one agent to another."""

    agent: str
    to: str
    type: str = "handoff"


@dataclass(frozen=True, slots=True)
class ApprovalRequested:
    """A tool call waits for a person's decision: ``Agent.decide`` / the steps' ``signal(key, ...)``."""

    agent: str
    key: str
    id: str
    name: str
    arguments: str
    type: str = "approval_requested"


@dataclass(frozen=True, slots=True)
class UsageReported:
    """One model call's tokens and cost (the gateway's own accounting of it)."""

    agent: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    type: str = "usage"


@dataclass(frozen=True, slots=True)
class Finished:
    """The run's end; ``result`` is the ``AgentResult``."""

    result: Any
    type: str = "finished"


Event = TextDelta | ToolCalled | ToolReturned | HandedOff | ApprovalRequested | UsageReported | Finished


def event_dict(event: Event) -> dict[str, Any]:
    """The event as JSON-ready data (the result's as ``AgentResult.to_dict``)."""
    if isinstance(event, Finished):
        return {"type": event.type, "result": event.result.to_dict()}
    return asdict(event)
