"""The spend log: one record per request, appended in batches, rolled up for reports.

``SpendLog.record_now`` is a settler (``Call.on_settle``, registered by the
spend stage ``pipeline/stages/settled.py``): when a call is complete it makes its
``SpendRecord`` and hands it to a bounded ``Appender`` (``storage/appender.py``),
which writes batches — one multi-row INSERT each, never an UPDATE — from one
background task. ``spend.overflow`` says what a full buffer does: ``block``
(the request waits for room; nothing acknowledged is lost) or ``drop`` (the
record is dropped and counted in ``dropped``). ``aclose`` writes everything
accepted before it returns (graceful shutdown).

Reports read the usage projection (``projections/usage_view.py``, kept from these records by
the projector), not the records: ``read_model(view, projector)`` attaches it, and a report first
lets the projector apply what this process has written (read your own writes, bounded by
``projections.wait``). Appends do not wake the projector: under load that would be a
transaction of the projector's per batch of records; it looks every ``projections.interval``. Without one attached (a bare ``SpendLog``), reports read the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config.budgets import SpendConfig
from switchyard.spend.record import SpendRecord
from switchyard.spend.report import SpendQuery
from switchyard.spend.store import SpendStore
from switchyard.storage.appender import Appender

log = logging.getLogger("switchyard.spend")


class SpendLog:
    """Owns the spend store's writer; ``start()`` it, ``aclose()`` it."""

    def __init__(self, store: SpendStore, config: SpendConfig, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.writer: Appender[SpendRecord] = Appender(store.append, name="spend", capacity=config.buffer,
                                                      batch=config.batch, overflow=config.overflow)
        self.view: Any = None
        self.projector: Any = None

    def read_model(self, view: Any, projector: Any) -> None:
        """Reports read ``view`` (a usage projection), kept by ``projector``."""
        self.view, self.projector = view, projector

    def start(self) -> None:
        self.writer.start()

    async def aclose(self) -> None:
        await self.writer.aclose()
        await self.store.aclose()

    async def record_call(self, call: Call) -> None:
        """The call's record, accepted by the writer (waiting for room under ``block``)."""
        pending = self.record_now(call)
        if pending is not None:
            await pending

    def record_now(self, call: Call) -> Awaitable[Any] | None:
        """The settler (``Call.on_settle``): the call's record, accepted by the writer — at once
        when it has room (the usual case: nothing to await), else what to await for room
        (``block``), or dropped and counted (``drop``)."""
        record = SpendRecord.of(call, self.clock())
        writer = self.writer
        if writer.add(record):
            return None
        if writer.overflow == "block":
            return writer.put(record)
        if writer.dropped & (writer.dropped - 1) == 0:  # the 1st, 2nd, 4th, 8th...: said, not shouted
            log.warning("spend_record_dropped", extra={"dropped": writer.dropped})
        return None

    async def report(self, query: SpendQuery) -> dict[str, Any]:
        """The rollup as the admin API shows it (everything accepted so far included)."""
        await self.writer.flushed()
        if self.view is None:
            rows, whole = await self.store.report(query)
        else:
            await self.projector.sync()
            rows, whole = await self.view.report(query)
        out = whole.public(query.group_by)
        out.pop(query.group_by)
        return {"object": "spend_report", "group_by": query.group_by, "from": query.since, "to": query.until,
                "data": [row.public(query.group_by) for row in rows], "total": out}

    async def records(self, since: float | None, until: float | None) -> AsyncIterator[SpendRecord]:
        await self.writer.flushed()
        async for record in self.store.scan(since, until):
            yield record
