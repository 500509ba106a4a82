"""The directory: where tenants, teams, users and keys are kept, and how changes are read back.

``Directory`` is the one protocol, answered by ``MemoryDirectory`` (here, for
``storage.url: memory://``) and ``SqlDirectory`` (``sql_directory.py``, for
SQLite and PostgreSQL). ``open_directory(store)`` picks one for the durable store.

Every ``save`` takes the directory's next *revision* and stamps the record
with it; ``changes(after)`` returns every record stamped after ``after`` and
the revision it read up to. That is the whole replication protocol: a
replica remembers the revision it has, and anything — a notification, a
poll, a restart — brings it up to date with one ``changes`` call. Messages
lost or repeated change nothing.

A save with ``expected`` (the revision the caller read) fails with 409 when
the record changed meanwhile, so two admins editing one key never silently
overwrite each other; a unique name (tenant, team, user email) already taken
by a live record is a 409 too.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from switchyard.core.errors import Conflict
from switchyard.governance.entities import Entity

#: The in-memory directory's bound (records of every kind).
MEMORY_MAX_RECORDS = 1_000_000

#: The field that must be unique among live records of a kind.
UNIQUE = {"tenant": "name", "team": "name", "user": "email", "key": "digest"}


@dataclass(frozen=True, slots=True)
class Changes:
    """Records stamped after some revision, and the revision read up to (every change
    up to it is included; a few later ones may be too)."""

    revision: int
    records: list[Entity]


class Directory(Protocol):
    """Durable home of the governance entities."""

    async def start(self) -> None:
        """Make ready (SQLite: migrate; PostgreSQL: check it was migrated)."""
        ...

    async def revision(self) -> int:
        """The newest revision stamped on any record (0: nothing yet)."""
        ...

    async def changes(self, after: int) -> Changes:
        """Every record stamped after ``after`` (``0``: everything, tombstones included)."""
        ...

    async def get(self, kind: str, entity_id: str) -> Entity | None:
        """The current record, read from the source (not a snapshot)."""
        ...

    async def save(self, record: Entity, expected: int | None) -> Entity:
        """Write ``record`` stamped with the next revision: a new one (``expected`` None), or
        over the one at revision ``expected`` (409 if it is no longer that). Returns it stamped."""
        ...

    async def aclose(self) -> None: ...


def stamped(record: Entity, revision: int, now: float, new: bool) -> Entity:
    changes: dict[str, Any] = {"revision": revision, "updated_at": now}
    if new:
        changes["created_at"] = now
    return dataclasses.replace(record, **changes)


def taken(kind: str, value: Any) -> Conflict:
    field = UNIQUE[kind]
    if kind == "key":
        return Conflict("That key secret already exists.", code="conflict")
    return Conflict(f"A {kind} with {field} {value!r} already exists.", param=field, code="name_taken")


def changed(kind: str, entity_id: str) -> Conflict:
    return Conflict(f"The {kind} {entity_id} was changed by someone else meanwhile; read it again and retry.",
                    code="changed_concurrently")


class MemoryDirectory:
    """The directory in this process (``storage.url: memory://``): gone on restart; at most
    ``max_records`` records."""

    def __init__(self, max_records: int = MEMORY_MAX_RECORDS) -> None:
        self.max_records = max_records
        self._revision = 0
        #: (kind, id) -> record, oldest revision first (a save moves its record to the end).
        self._records: OrderedDict[tuple[str, str], Entity] = OrderedDict()
        self._unique: dict[tuple[str, Any], str] = {}

    async def start(self) -> None:
        return None

    async def revision(self) -> int:
        return self._revision

    async def changes(self, after: int) -> Changes:
        newer: list[Entity] = []
        for record in reversed(self._records.values()):
            if record.revision <= after:
                break
            newer.append(record)
        newer.reverse()
        return Changes(self._revision, newer)

    async def get(self, kind: str, entity_id: str) -> Entity | None:
        return self._records.get((kind, entity_id))

    async def save(self, record: Entity, expected: int | None) -> Entity:
        slot = (record.kind, record.id)
        current = self._records.get(slot)
        if expected is None and current is not None:
            raise Conflict(f"The {record.kind} {record.id} exists already.", code="conflict")
        if expected is not None and (current is None or current.revision != expected):
            raise changed(record.kind, record.id)
        if current is None and len(self._records) >= self.max_records:
            raise Conflict(f"The in-memory directory holds at most {self.max_records} records; "
                           "set storage.url to a SQLite file or PostgreSQL.", code="directory_full")
        unique = (record.kind, getattr(record, UNIQUE[record.kind]))
        holder = self._unique.get(unique)
        if holder is not None and holder != record.id and not record.deleted:
            raise taken(record.kind, unique[1])
        if current is not None:
            old = (record.kind, getattr(current, UNIQUE[record.kind]))
            if self._unique.get(old) == record.id:
                del self._unique[old]
        if not record.deleted:
            self._unique[unique] = record.id
        self._revision += 1
        saved = stamped(record, self._revision, time.time(), current is None)
        self._records.pop(slot, None)
        self._records[slot] = saved
        return saved

    async def aclose(self) -> None:
        return None


def open_directory(store: Any) -> Directory:
    """The directory kept in the durable ``store`` (``storage.url``). SQLAlchemy is loaded
    only for a SQL store (by its scheme, so a memory store never imports it)."""
    scheme = str(getattr(store, "url", "")).split(":", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from switchyard.governance.sql_directory import SqlDirectory

        return SqlDirectory(store)
    if scheme == "memory":
        return MemoryDirectory()
    raise ValueError(f"storage.url: virtual keys are kept in sqlite:///, postgresql:// or memory:// stores, "
                     f"not {scheme or 'this'}://")
