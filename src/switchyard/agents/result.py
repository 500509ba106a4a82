"""What a run hands back: the output, the messages it added, and what it used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pydantic_core


@dataclass(slots=True)
class AgentResult:
    """One run's outcome. ``output`` is the output type's value (or the final text without
    one); ``messages`` are the messages this run added to the conversation (OpenAI shape)."""

    run_id: str
    agent: str
    output: Any = None
    text: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: The gateway's price of every model call of the run (sub-agents' included), in US dollars.
    cost_usd: float = 0.0
    seconds: float = 0.0
    #: The trace every model call of the run belongs to (W3C trace id).
    trace_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        output = self.output
        if output is not None and not isinstance(output, (str, int, float, bool, list, dict)):
            output = pydantic_core.to_jsonable_python(output)
        return {"run_id": self.run_id, "agent": self.agent, "output": output, "text": self.text,
                "turns": self.turns, "tool_calls": self.tool_calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": round(self.cost_usd, 10),
                "seconds": round(self.seconds, 3), "trace_id": self.trace_id}
