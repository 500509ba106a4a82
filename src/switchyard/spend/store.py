"""Where spend records live: the durable store's database, or this process's memory.

(The SQL store is ``sql_store.py``, imported only beside a SQL durable store:
SQLAlchemy stays unloaded in a gateway that keeps its records in memory.)

``spend_store_for(durable)`` picks one beside the durable store (``storage.url``):
the ``sy_spend`` table of the same SQLite file or PostgreSQL database (from
``switchyard db upgrade``), or a bounded list in memory for ``memory://``
(the newest ``MAX_MEMORY_RECORDS``; older ones are dropped and counted). A
batch is one multi-row INSERT; nothing is ever updated. Reports GROUP BY the
dimension over the time range (an index on ``at`` bounds the scan).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from switchyard.spend.record import SpendRecord
from switchyard.spend.report import Rollup, SpendQuery, rollup

MAX_MEMORY_RECORDS = 10_000


class SpendStore(Protocol):
    async def append(self, records: Sequence[SpendRecord]) -> None:
        """Store a batch (one statement)."""
        ...

    async def report(self, query: SpendQuery) -> tuple[list[Rollup], Rollup]:
        """The costliest ``query.limit`` groups in the range, and the range's total."""
        ...

    def scan(self, since: float | None, until: float | None) -> AsyncIterator[SpendRecord]:
        """Every record in the range, oldest first."""
        ...

    async def aclose(self) -> None: ...


class MemorySpendStore:
    """The newest ``max_records`` records in this process (``memory://``). A record is a struct
    the garbage collector does not track, so a full store costs it nothing."""

    def __init__(self, max_records: int = MAX_MEMORY_RECORDS) -> None:
        self._rows: deque[SpendRecord] = deque(maxlen=max_records)
        #: Records pushed out by newer ones.
        self.dropped = 0
        #: Records ever appended: the number of the newest (the usage projection follows it).
        self.appended = 0

    @property
    def records(self) -> list[SpendRecord]:
        return list(self._rows)

    async def append(self, records: Sequence[SpendRecord]) -> None:
        overflow = len(self._rows) + len(records) - (self._rows.maxlen or 0)
        if overflow > 0:
            self.dropped += overflow
        self._rows.extend(records)
        self.appended += len(records)

    def since(self, position: int) -> tuple[list[SpendRecord], int]:
        """The records appended after the ``position``-th still held, and the new position."""
        new = min(self.appended - position, len(self._rows))
        if new <= 0:
            return [], self.appended
        newest = list(itertools.islice(reversed(self._rows), new))  # not a copy of all that is held
        newest.reverse()
        return newest, self.appended

    async def report(self, query: SpendQuery) -> tuple[list[Rollup], Rollup]:
        return rollup(self.records, query)

    async def scan(self, since: float | None, until: float | None) -> AsyncIterator[SpendRecord]:
        for record in self.records:
            if (since is None or record.at >= since) and (until is None or record.at < until):
                yield record

    async def aclose(self) -> None:
        return None


def spend_store_for(durable: Any) -> SpendStore | None:
    """The spend store beside ``durable`` (None when its kind keeps none: Redis)."""
    engine = getattr(durable, "engine", None)
    if engine is not None:  # a SQL store: SQLAlchemy is loaded already
        from switchyard.spend.sql_store import SqlSpendStore

        return SqlSpendStore(engine)
    from switchyard.storage.memory import MemoryStore

    if durable is None or isinstance(durable, MemoryStore):
        return MemorySpendStore()
    return None
