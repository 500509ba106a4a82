"""A run's events: what the caller watches (step started / finished with tokens and USD,
retries, waits, the run's end), written to the run's DBOS stream ``events``.

Steps write theirs from inside the step (a replayed step, already journaled, writes none);
the run writes ``run.started``, ``wait.started`` and ``run.finished`` as operations of its own.
Each event is a small dict: ``{"type": ..., "at": epoch seconds, ...}``.
"""

from __future__ import annotations

import time
from typing import Any

from dbos import DBOS

#: The DBOS stream of a run's events.
STREAM = "events"
#: Event types, in the order a run can produce them.
TYPES = ("run.started", "step.started", "step.retry", "step.finished", "wait.started", "run.finished")


async def emit(kind: str, **fields: Any) -> None:
    """Write an event to the current run's stream."""
    await DBOS.write_stream_async(STREAM, {"type": kind, "at": round(time.time(), 3), **fields})


async def emit_step(kind: str, step: str, **fields: Any) -> None:
    await emit(kind, step=step, **fields)
