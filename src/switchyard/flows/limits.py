"""A run's limits and what it has used so far.

The totals are rebuilt from the journal when a run resumes (a replayed step hands back its
recorded usage and cost), so a limit holds across kills and restarts.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from switchyard.flows.errors import FlowDefinitionError, LimitReached

FIELDS = ("steps", "model_calls", "tokens", "usd", "wall_seconds")


@dataclass(frozen=True, slots=True)
class Limits:
    """The most a run may use; None is no limit. ``wall_seconds`` counts from the run's start,
    across restarts."""

    steps: int | None = None
    model_calls: int | None = None
    tokens: int | None = None
    usd: float | None = None
    wall_seconds: float | None = None

    def __post_init__(self) -> None:
        problems = [(name, "must be a positive number") for name in FIELDS
                    if (value := getattr(self, name)) is not None
                    and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0)]
        if problems:
            raise FlowDefinitionError([(f"limits.{name}", reason) for name, reason in problems])

    @classmethod
    def of(cls, data: Limits | dict[str, Any] | None) -> Limits:
        if data is None:
            return cls()
        if isinstance(data, Limits):
            return data
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise FlowDefinitionError([(f"limits.{name}", f"unknown limit (known: {', '.join(FIELDS)})")
                                       for name in unknown])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def left(self, used: Totals) -> Limits:
        """What is left for a child run after ``used``."""
        def minus(limit: float | None, spent: float) -> Any:
            return None if limit is None else max(limit - spent, 1e-9)
        return Limits(steps=minus(self.steps, used.steps), model_calls=minus(self.model_calls, used.model_calls),
                      tokens=minus(self.tokens, used.tokens), usd=minus(self.usd, used.usd),
                      wall_seconds=self.wall_seconds)


@dataclass(slots=True)
class Totals:
    """What a run has used: steps, model calls, tokens, USD."""

    steps: int = 0
    model_calls: int = 0
    tokens: int = 0
    usd: float = 0.0
    started: float = field(default_factory=time.time)

    def add(self, other: dict[str, Any]) -> None:
        self.steps += int(other.get("steps", 0))
        self.model_calls += int(other.get("model_calls", 0))
        self.tokens += int(other.get("tokens", 0))
        self.usd += float(other.get("usd", 0.0))

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "model_calls": self.model_calls, "tokens": self.tokens,
                "usd": round(self.usd, 10)}

    def check(self, limits: Limits, *, model: bool = False) -> None:
        """Raise ``LimitReached`` when one more step (a model step with ``model``) would exceed a limit."""
        if limits.steps is not None and self.steps >= limits.steps:
            raise LimitReached("steps", limits.steps, self.steps)
        if limits.wall_seconds is not None and (spent := time.time() - self.started) >= limits.wall_seconds:
            raise LimitReached("wall_seconds", limits.wall_seconds, round(spent, 3))
        if not model:
            return
        if limits.model_calls is not None and self.model_calls >= limits.model_calls:
            raise LimitReached("model_calls", limits.model_calls, self.model_calls)
        if limits.tokens is not None and self.tokens >= limits.tokens:
            raise LimitReached("tokens", limits.tokens, self.tokens)
        if limits.usd is not None and self.usd >= limits.usd:
            raise LimitReached("usd", limits.usd, self.usd)

    def check_spent(self, limits: Limits) -> None:
        """After a model step: tokens or USD past the limit stop the run (the step stays journaled)."""
        if limits.tokens is not None and self.tokens > limits.tokens:
            raise LimitReached("tokens", limits.tokens, self.tokens)
        if limits.usd is not None and self.usd > limits.usd:
            raise LimitReached("usd", limits.usd, self.usd)
