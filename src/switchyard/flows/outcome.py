"""What a run ended with, and where a run stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A run's statuses: DBOS's, plus ``stopped`` (a limit ended it cleanly) and ``failed``.
STATUSES = ("pending", "enqueued", "done", "stopped", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A run's end: ``status`` is ``done``, ``stopped`` (a limit, named in ``reason``) or
    ``failed`` (``reason`` is the error); ``output`` is the flow's return value when done."""

    run_id: str
    status: str
    output: Any = None
    reason: str | None = None
    totals: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "output": self.output, "reason": self.reason,
                "totals": self.totals}


@dataclass(frozen=True, slots=True)
class RunStatus:
    """Where a run stands: its flow, status, timestamps (ms), and its outcome once ended."""

    run_id: str
    flow: str
    status: str
    created_ms: int | None
    updated_ms: int | None
    outcome: RunOutcome | None = None
    #: The process (its ``executor_id``) that runs or ran it.
    executor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "flow": self.flow, "status": self.status, "created_ms": self.created_ms,
                "updated_ms": self.updated_ms, "executor": self.executor,
                "outcome": None if self.outcome is None else self.outcome.as_dict()}
