"""Where audit entries live: the durable store's database, or this process's memory.

``audit_store_for(durable)`` picks one for the durable store (``storage.url``):
the same SQLite file or PostgreSQL database (``audit/sql_store.py``), or memory
for ``memory://``. Both chain entries the same way (``chained`` below).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from switchyard.audit.chain import Entry, Head, Stored, link


@dataclass(frozen=True, slots=True)
class Query:
    """Filters of ``GET /admin/audit``: each one given narrows the result."""

    kind: str | None = None
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: float | None = None
    until: float | None = None
    after_id: int = 0
    limit: int = 100


class AuditStore(Protocol):
    async def append(self, entries: Sequence[Entry]) -> list[int]:
        """Chain and store ``entries`` in order; their ids."""
        ...

    async def head(self) -> Head: ...

    def scan(self) -> AsyncIterator[Stored]:
        """Every stored entry in id order (for ``verify``)."""
        ...

    async def query(self, query: Query) -> list[Stored]: ...

    async def prune(self, before: float) -> int:
        """Remove the oldest entries, up to the last one made before ``before``; how many."""
        ...

    async def aclose(self) -> None: ...


def chained(head: Head, entries: Sequence[Entry]) -> tuple[list[Stored], Head]:
    rows, last_id, prev = [], head.last_id, head.last_hash
    for entry in entries:
        data = entry.canonical()
        last_id += 1
        digest = link(prev, data)
        rows.append(Stored(last_id, entry.at, entry.kind, entry.actor, entry.action, entry.target,
                           data, prev, digest))
        prev = digest
    return rows, Head(last_id, prev, head.anchor_id, head.anchor_hash)


def matches(row: Stored, query: Query) -> bool:
    return ((query.kind is None or row.kind == query.kind) and (query.actor is None or row.actor == query.actor)
            and (query.action is None or row.action == query.action)
            and (query.target is None or row.target == query.target)
            and (query.since is None or row.at >= query.since) and (query.until is None or row.at < query.until)
            and row.id > query.after_id)


class MemoryAuditStore:
    """The chain in this process (``memory://``): gone when it exits."""

    def __init__(self) -> None:
        self.rows: list[Stored] = []
        self._head = Head()
        self._lock = asyncio.Lock()

    async def append(self, entries: Sequence[Entry]) -> list[int]:
        async with self._lock:
            rows, self._head = chained(self._head, entries)
            self.rows.extend(rows)
        return [r.id for r in rows]

    async def head(self) -> Head:
        return self._head

    async def scan(self) -> AsyncIterator[Stored]:
        for row in list(self.rows):
            yield row

    async def query(self, query: Query) -> list[Stored]:
        return [r for r in self.rows if matches(r, query)][:query.limit]

    async def prune(self, before: float) -> int:
        async with self._lock:
            cut = 0
            while cut < len(self.rows) and self.rows[cut].at < before:
                cut += 1
            if cut:
                last = self.rows[cut - 1]
                self._head = Head(self._head.last_id, self._head.last_hash, last.id, last.hash)
                del self.rows[:cut]
        return cut

    async def aclose(self) -> None:
        return None


def audit_store_for(durable: Any) -> AuditStore | None:
    """The audit store living beside ``durable`` (None when its kind keeps no audit: Redis)."""
    if getattr(durable, "engine", None) is not None:  # a SQL store: SQLAlchemy is loaded already
        from switchyard.audit.sql_store import SqlAuditStore

        return SqlAuditStore(durable.engine, bool(getattr(durable, "postgres", False)))
    from switchyard.storage.memory import MemoryStore

    if durable is None or isinstance(durable, MemoryStore):
        return MemoryAuditStore()
    return None
