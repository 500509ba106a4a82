"""Runs seen from outside: status, outcome, events, journal, send, cancel, retention.

Over ``DBOSClient`` (the journal database only, no flow code), so the CLI and the admin API
of any process can watch and steer runs that some engine executes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from dbos import DBOSClient
from dbos._error import DBOSNonExistentWorkflowError

from switchyard.flows.database import JournalDatabase
from switchyard.flows.errors import FlowError, FlowNotFound
from switchyard.flows.events import STREAM
from switchyard.flows.outcome import RunOutcome, RunStatus

#: DBOS's statuses, as a run's.
STATUS = {"PENDING": "pending", "ENQUEUED": "enqueued", "DELAYED": "enqueued", "SUCCESS": "done",
          "ERROR": "failed", "CANCELLED": "cancelled", "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed"}
ENDED = ("SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
#: Events buffered between the streams of a run's branches and its reader.
EVENT_BUFFER = 256
#: A run's branches followed at once by ``events``.
MAX_FOLLOWED = 64


class Runs:
    """The runs in one journal database."""

    def __init__(self, database: JournalDatabase) -> None:
        self._database = database
        self._client = DBOSClient(system_database_url=database.url, dbos_system_schema=database.schema or "dbos",
                                  lazy=True)

    def close(self) -> None:
        self._client.destroy()

    async def _status(self, run_id: str) -> Any:
        if not isinstance(run_id, str) or not run_id or len(run_id) > 128:
            raise FlowError("run id: expected 1 to 128 characters")
        if self._database.is_sqlite and not self._database.sqlite_path.exists():
            raise FlowNotFound(f"no run {run_id!r}: no journal at {self._database.sqlite_path} (no flow ran there)")
        try:
            found = await self._client.list_workflows_async(workflow_ids=[run_id], load_input=True, load_output=True)
        except sa.exc.SQLAlchemyError as exc:
            raise FlowError(f"the journal database cannot be read ({type(getattr(exc, 'orig', None) or exc).__name__}): "
                            "has a flow engine ever opened it?") from exc
        if not found:
            raise FlowNotFound(f"no run {run_id!r}")
        return found[0]

    async def status(self, run_id: str) -> RunStatus:
        info = await self._status(run_id)
        outcome = _outcome(info) if info.status in ENDED else None
        status = outcome.status if outcome is not None else STATUS.get(info.status, info.status.lower())
        return RunStatus(run_id=run_id, flow=_flow_label(info), status=status, created_ms=info.created_at,
                         updated_ms=info.updated_at, outcome=outcome, executor=info.executor_id)

    async def outcome(self, run_id: str, timeout: float | None = None, poll: float = 0.05) -> RunOutcome:
        """The run's outcome, waiting for it to end (``TimeoutError`` after ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = await self._status(run_id)
            if info.status in ENDED:
                return _outcome(info)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} has not ended within {timeout} s")
            await asyncio.sleep(poll)

    async def events(self, run_id: str) -> AsyncIterator[dict[str, Any]]:
        """The run's events as they happen (its branches' too, each tagged with ``branch``),
        until the run ends."""
        await self._status(run_id)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(EVENT_BUFFER)
        readers: list[asyncio.Task[None]] = []

        async def read(workflow_id: str, branch: str | None) -> None:
            try:
                async for event in self._client.read_stream_async(workflow_id, STREAM, polling_interval_sec=0.05):
                    if branch is not None:
                        event = {**event, "branch": branch}
                    if event.get("type") == "branch.started" and len(readers) < MAX_FOLLOWED:
                        readers.append(asyncio.ensure_future(read(event["run_id"], event["branch"])))
                    await queue.put(event)
            finally:
                await queue.put(None)

        readers.append(asyncio.ensure_future(read(run_id, None)))
        ended = 0
        try:
            while ended < len(readers):
                event = await queue.get()
                if event is None:
                    ended += 1
                else:
                    yield event
        finally:
            for reader in readers:
                reader.cancel()

    async def journal(self, run_id: str) -> list[dict[str, Any]]:
        """The run's journaled operations in order: name, output (a model step's request and
        response), error, start and end (ms)."""
        await self._status(run_id)
        steps = await self._client.list_workflow_steps_async(run_id)
        return [{"step": s["function_id"], "name": s["function_name"], "output": s.get("output"),
                 "error": None if s.get("error") is None else repr(s["error"]),
                 "child_run_id": s.get("child_workflow_id"), "started_ms": s.get("started_at_epoch_ms"),
                 "finished_ms": s.get("completed_at_epoch_ms")} for s in steps]

    async def send(self, run_id: str, event: str, value: Any = None) -> None:
        if not isinstance(event, str) or not event or len(event) > 200:
            raise FlowError("event: expected a name of 1 to 200 characters")
        info = await self._status(run_id)
        if info.status in ENDED:
            raise FlowError(f"run {run_id} has ended ({STATUS[info.status]}): no event can reach it")
        await self._client.send_async(run_id, {"value": value}, topic=event)

    async def cancel(self, run_id: str) -> None:
        await self._status(run_id)
        try:
            await self._client.cancel_workflow_async(run_id)
        except DBOSNonExistentWorkflowError as exc:
            raise FlowNotFound(f"no run {run_id!r}") from exc

    async def recent(self, limit: int = 50) -> list[RunStatus]:
        found = await self._client.list_workflows_async(name="switchyard.flow", limit=limit, sort_desc=True,
                                                        load_input=True, load_output=True)
        return [RunStatus(run_id=i.workflow_id, flow=_flow_label(i),
                          status=_outcome(i).status if i.status in ENDED else STATUS.get(i.status, i.status.lower()),
                          created_ms=i.created_at, updated_ms=i.updated_at) for i in found]

    async def prune(self, older_than_seconds: float) -> tuple[list[str], list[str]]:
        """Remove ended runs (with their branches) created more than that ago: the ids of the
        runs, and of everything removed (runs and branches)."""
        if older_than_seconds < 0:
            raise FlowError("older_than_seconds must be 0 or more")
        before = datetime.fromtimestamp(time.time() - older_than_seconds, UTC).isoformat()
        ended = await self._client.list_workflows_async(status=list(ENDED), end_time=before, load_input=False,
                                                        load_output=False)
        every = [info.workflow_id for info in ended]
        if every:
            await self._client.delete_workflows_async(every, delete_children=True)
        return [info.workflow_id for info in ended if info.name == "switchyard.flow"], every


def _flow_label(info: Any) -> str:
    args = info.input.get("args") if isinstance(info.input, dict) else None
    if not args:
        return str(info.name)
    ref = args[0]
    if isinstance(ref, dict):
        if "flow" in ref:
            return str(ref["flow"])
        if "yaml" in ref:
            return str(ref["yaml"].get("name") or "yaml")
    return str(info.name)


def _outcome(info: Any) -> RunOutcome:
    if info.status == "SUCCESS":
        envelope = info.output or {}
        return RunOutcome(run_id=info.workflow_id, status=envelope.get("status", "done"), output=envelope.get("output"),
                          reason=envelope.get("reason"), totals=envelope.get("totals", {}))
    if info.status == "CANCELLED":
        return RunOutcome(run_id=info.workflow_id, status="cancelled", reason="cancelled")
    error = info.error
    return RunOutcome(run_id=info.workflow_id, status="failed",
                      reason=f"{type(error).__name__}: {error}" if error is not None else info.status.lower())
