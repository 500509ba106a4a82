"""The directory in SQLite or PostgreSQL: the ``sy_*`` tables of ``storage/sql_schema.py``.

A save is one transaction: ``UPDATE sy_directory SET revision = revision + 1
RETURNING revision`` first — which also serialises every writer on that one row,
so revisions commit in the order they are taken — then the record's INSERT, or
its UPDATE guarded by the revision the caller read. ``changes(after)`` reads
the counter first and then each table's rows stamped after ``after``: since
revisions commit in order, every change up to the counter's value is seen.

``start`` migrates a SQLite file to the newest revision (what ``serve`` does
for the embedded database) and checks that a PostgreSQL database has been
migrated (``switchyard db upgrade``), naming the command when it has not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from switchyard.core.errors import Conflict
from switchyard.governance.directory import UNIQUE, Changes, changed, taken
from switchyard.governance.entities import CLASSES, KINDS, Budget, Entity
from switchyard.storage import sql_schema as schema
from switchyard.storage.sql import SqlStore

#: Fields kept as JSON lists and read back as tuples.
_TUPLES = ("models", "routes", "tags")


class DirectoryNotReady(RuntimeError):
    """The database lacks the directory's tables (or is behind): run ``switchyard db upgrade``."""


def to_row(record: Entity) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, Budget):
            value = value.model_dump()
        elif isinstance(value, tuple):
            value = list(value)
        row["meta" if f.name == "metadata" else f.name] = value
    return row


def _column(name: str) -> str:
    return "meta" if name == "metadata" else name


def _plan(kind: str) -> tuple[type[Any], tuple[tuple[int, str], ...]]:
    """The record class and, in its field order, each field's column index and how it is read."""
    cls = CLASSES[kind]
    index = {c.name: i for i, c in enumerate(schema.ENTITY_TABLES[kind].c)}
    steps = []
    for f in dataclasses.fields(cls):
        how = ("budget" if f.name == "budget" else "tuple" if f.name in _TUPLES else "json" if f.name == "metadata"
               else "bool" if f.name == "deleted" else "plain")
        steps.append((index[_column(f.name)], how))
    return cls, tuple(steps)


_PLANS = {kind: _plan(kind) for kind in CLASSES}


def _json(value: Any) -> Any:
    # SQLite hands JSON columns over as text; asyncpg may have decoded them already.
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _selected(table: sa.Table) -> Any:
    """Every column, JSON ones as their text (parsed here with orjson, many times faster)."""
    return sa.select(*[sa.type_coerce(c, sa.Text).label(c.name) if isinstance(c.type, sa.JSON) else c
                       for c in table.c])


def from_row(kind: str, row: Any, budgets: dict[str, Budget | None]) -> Entity:
    """The record of a row read by ``_selected``; ``budgets`` (JSON text -> Budget) shares equal
    budgets among the records of one read (keys mostly share a few)."""
    cls, plan = _PLANS[kind]
    values: list[Any] = []
    for column, how in plan:
        value = row[column]
        if value is None or how == "plain":
            pass
        elif how == "bool":
            value = bool(value)
        elif how == "budget":
            text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
            found = budgets.get(text)
            if found is None:
                terms = _json(value)  # JSON null (how sa.JSON writes None) is no budget
                found = budgets[text] = None if terms is None else Budget.model_validate(terms)
            value = found
        else:
            value = _json(value)
            if how == "tuple" and value is not None:
                value = tuple(value)
        values.append(value)
    entity: Entity = cls(*values)
    return entity


class SqlDirectory:
    """The directory kept in a SQL store's database (its engine, its schema)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.engine = store.engine

    async def start(self) -> None:
        from switchyard.storage.migrate import NotMigrated, ensure_migrated  # alembic logs as it loads

        try:
            await ensure_migrated(self.store)
        except NotMigrated as exc:
            raise DirectoryNotReady(str(exc)) from None

    async def revision(self) -> int:
        t = schema.directory
        async with self.engine.connect() as conn:
            value = (await conn.execute(sa.select(t.c.revision).where(t.c.id == 1))).scalar()
        return int(value or 0)

    async def changes(self, after: int) -> Changes:
        t = schema.directory
        records: list[Entity] = []
        async with self.engine.connect() as conn:
            revision = int((await conn.execute(sa.select(t.c.revision).where(t.c.id == 1))).scalar() or 0)
            if revision <= after:
                return Changes(revision, records)
            budgets: dict[str, Budget | None] = {}
            for kind in KINDS:
                table = schema.ENTITY_TABLES[kind]
                rows = await conn.execute(_selected(table).where(table.c.revision > after)
                                          .order_by(table.c.revision))
                for count, row in enumerate(rows, 1):
                    records.append(from_row(kind, row, budgets))
                    if count % 2000 == 0:  # a full load of many keys lets requests through between slices
                        await asyncio.sleep(0)
        return Changes(revision, records)

    async def get(self, kind: str, entity_id: str) -> Entity | None:
        if "\x00" in entity_id:  # no record has one, and PostgreSQL refuses it in a text value
            return None
        table = schema.ENTITY_TABLES[kind]
        async with self.engine.connect() as conn:
            row = (await conn.execute(_selected(table).where(table.c.id == entity_id))).first()
        return None if row is None else from_row(kind, row, {})

    async def save(self, record: Entity, expected: int | None) -> Entity:
        table = schema.ENTITY_TABLES[record.kind]
        counter = schema.directory
        now = time.time()
        try:
            async with self.engine.begin() as conn:
                revision = int((await conn.execute(
                    sa.update(counter).where(counter.c.id == 1).values(revision=counter.c.revision + 1)
                    .returning(counter.c.revision))).scalar_one())
                fresh: dict[str, Any] = {"revision": revision, "updated_at": now}
                if expected is None:
                    fresh["created_at"] = now
                saved: Entity = dataclasses.replace(record, **fresh)
                row = to_row(saved)
                if expected is None:
                    await conn.execute(sa.insert(table).values(**row))
                else:
                    del row["id"], row["created_at"]
                    done = await conn.execute(sa.update(table).where(table.c.id == record.id,
                                                                     table.c.revision == expected).values(**row))
                    if not done.rowcount:
                        raise changed(record.kind, record.id)
        except IntegrityError as exc:
            text = str(exc.orig).lower()
            if "primary" in text or "_pkey" in text or f"{table.name}.id" in text:
                raise Conflict(f"The {record.kind} {record.id} exists already.", code="conflict") from None
            raise taken(record.kind, getattr(record, UNIQUE[record.kind])) from None
        return saved

    async def aclose(self) -> None:
        return None  # the engine is the durable store's: it closes it
