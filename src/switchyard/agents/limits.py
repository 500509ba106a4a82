"""A run's limits and what it has spent against them.

``Limits`` bounds a run in model calls (``max_turns``), tool calls, tokens, US dollars
and seconds; ``Tally`` counts what it used. A limit is checked before each step: the
run stops cleanly between steps (``LimitReached``), never in the middle of a tool.
Dollars are the gateway's own price of each call's usage, known once the call ends, so
the step that crosses ``max_usd`` completes and the next one does not start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from switchyard.agents.errors import LimitReached


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one run; ``None`` = unbounded (``max_turns`` always has one)."""

    max_turns: int = 10
    max_tool_calls: int = 100
    max_tokens: int | None = None
    max_usd: float | None = None
    max_seconds: float | None = None
    #: Seconds a tool call waits for a person's approval before it is refused.
    approval_timeout: float | None = 3600.0

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_tool_calls", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"limits.{name}: must be a whole number of at least 1, not {value!r}")
        for name in ("max_usd", "max_seconds", "approval_timeout"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"limits.{name}: must be a positive number, not {value!r}")


@dataclass(slots=True)
class Tally:
    """What a run used so far."""

    limits: Limits
    started: float = field(default_factory=time.monotonic)
    turns: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def remaining_seconds(self) -> float | None:
        if self.limits.max_seconds is None:
            return None
        return self.limits.max_seconds - (time.monotonic() - self.started)

    def check(self, result: object = None) -> None:
        """``LimitReached`` when another step may not start."""
        limits = self.limits
        if self.turns >= limits.max_turns:
            raise LimitReached("max_turns", f"the run made {self.turns} model calls (max_turns)", result)
        if limits.max_tokens is not None and self.tokens >= limits.max_tokens:
            raise LimitReached("max_tokens", f"the run used {self.tokens} tokens (max_tokens {limits.max_tokens})",
                               result)
        if limits.max_usd is not None and self.cost_usd >= limits.max_usd:
            raise LimitReached("max_usd", f"the run cost ${self.cost_usd:.6f} (max_usd {limits.max_usd})", result)
        left = self.remaining_seconds()
        if left is not None and left <= 0:
            raise LimitReached("max_seconds", f"the run took {limits.max_seconds} s (max_seconds)", result)

    def check_tools(self, count: int, result: object = None) -> None:
        if self.tool_calls + count > self.limits.max_tool_calls:
            raise LimitReached("max_tool_calls", f"the run asked for {self.tool_calls + count} tool calls "
                               f"(max_tool_calls {self.limits.max_tool_calls})", result)
