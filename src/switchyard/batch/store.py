"""The batches' write model: each command one transaction, its event appended in it.

``create`` copies a batch's runnable lines out of its input file and writes the refused ones'
error lines at once; ``write_results`` records a chunk of results — ``INSERT … ON CONFLICT DO
NOTHING`` on (batch, line), so a line run twice (a worker died after running it, before its
work was acknowledged) is one result — counts them, and finishes the batch with the last one;
``cancel`` and ``finish`` are the other transitions. The state kept here (``sy_batches``) is
what commands are checked against; what clients read is the projection (``projections/``).

States: ``in_progress`` -> ``completed``; ``in_progress`` -> ``cancelling`` -> ``cancelled``;
``in_progress``/``cancelling`` -> ``expired``; ``failed`` when the provider failed a native batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchyard.batch import events
from switchyard.batch.files import add_result_files
from switchyard.batch.lines import Checked
from switchyard.batch.shapes import error_line, line_error
from switchyard.storage import sql_schema as schema

RUNNING = ("in_progress", "cancelling")
#: Rows per INSERT when a batch's lines are copied in.
INSERT_PAGE = 500
#: Validation errors a batch object lists (``errors.data``); every one is in the error file.
MAX_LISTED_ERRORS = 100


@dataclass(frozen=True, slots=True)
class Result:
    """One line's outcome: its output- or error-file line, and the tokens it used (for the batch's usage)."""

    line_no: int
    custom_id: str | None
    ok: bool
    data: bytes
    prompt: int = 0
    cached: int = 0
    completion: int = 0
    reasoning: int = 0


@dataclass(frozen=True, slots=True)
class Pending:
    """A line still to run."""

    line_no: int
    custom_id: str
    body: bytes


class BatchStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        r = schema.batch_results
        # One statement, compiled once, run for a whole chunk (executemany): a line already there is skipped.
        self._add_result = (self._insert(r).on_conflict_do_nothing(index_elements=[r.c.batch_id, r.c.line_no])
                            .returning(r.c.line_no))

    def _insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self.postgres else sqlite_dialect.insert)(table)

    # -- commands ---------------------------------------------------------------------------------
    async def create(self, doc: dict[str, Any], *, owner: str, checked: Checked, mode: str, alias: str | None,
                     discount: bool) -> None:
        """A new batch from its first ``doc`` (the batch object: id, times, counts...), its lines,
        and an error line for each refused one; finished at once when no line can run."""
        batch_id, now = doc["id"], float(doc["created_at"])
        refused = checked.refused
        if refused:
            doc["errors"] = {"object": "list", "data": [line_error(r.line_no, r.code, r.message, r.param)
                                                       for r in refused[:MAX_LISTED_ERRORS]]}
        async with self.engine.begin() as conn:
            await events.lock_events(conn)
            await conn.execute(sa.insert(schema.batches).values(
                id=batch_id, owner=owner, endpoint=doc["endpoint"], input_file_id=doc["input_file_id"],
                created_at=now, expires_at=float(doc["expires_at"]), total=checked.total, done=len(refused),
                state="in_progress", mode=mode, alias=alias, discount=discount, native=None))
            lines = checked.lines
            for start in range(0, len(lines), INSERT_PAGE):
                await conn.execute(sa.insert(schema.batch_lines), [
                    {"batch_id": batch_id, "line_no": line.line_no, "custom_id": line.custom_id, "body": line.body}
                    for line in lines[start:start + INSERT_PAGE]])
            for start in range(0, len(refused), INSERT_PAGE):
                await conn.execute(sa.insert(schema.batch_results), [
                    {"batch_id": batch_id, "line_no": r.line_no, "custom_id": r.custom_id, "ok": False, "at": now,
                     "data": error_line(r.custom_id, r.line_no, r.code, r.message, r.param)}
                    for r in refused[start:start + INSERT_PAGE]])
            await events.append(conn, events.CREATED, batch_id, {"doc": doc, "owner": owner})
            if not lines:
                await self._finish(conn, batch_id, owner, "completed", now)

    async def write_results(self, batch_id: str, results: Sequence[Result]) -> int:
        """Record ``results`` (each line once, whoever wrote it first); finish the batch with its
        last line. Returns how many were new. Results of a batch no longer running are dropped."""
        if not results:
            return 0
        b = schema.batches
        now = time.time()
        async with self.engine.begin() as conn:
            await events.lock_events(conn)
            # A write first: on SQLite it takes the database's write lock before anything is read.
            row = (await conn.execute(sa.update(b).where(b.c.id == batch_id).values(done=b.c.done)
                                      .returning(b.c.state, b.c.owner))).first()
            if row is None or row.state not in RUNNING:
                return 0
            new = {n for (n,) in (await conn.execute(self._add_result, [
                {"batch_id": batch_id, "line_no": x.line_no, "custom_id": x.custom_id, "ok": x.ok, "data": x.data,
                 "at": now} for x in results])).all()}
            if not new:
                return 0
            counts = (await conn.execute(sa.update(b).where(b.c.id == batch_id).values(done=b.c.done + len(new))
                                         .returning(b.c.done, b.c.total, b.c.state))).one()
            await events.append(conn, events.LINES, batch_id, {"lines": [
                [x.line_no, x.ok, x.prompt, x.cached, x.completion, x.reasoning] for x in results if x.line_no in new]})
            if counts.done >= counts.total and counts.state == "in_progress":
                await self._finish(conn, batch_id, row.owner, "completed", now)
        return len(new)

    async def cancel(self, batch_id: str) -> str | None:
        """Ask a running batch to stop: ``cancelling`` (lines not yet started never start). Returns
        the state before (None: no such batch)."""
        b = schema.batches
        now = time.time()
        async with self.engine.begin() as conn:
            await events.lock_events(conn)
            row = (await conn.execute(sa.update(b).where(b.c.id == batch_id).values(done=b.c.done)
                                      .returning(b.c.state))).first()
            if row is None:
                return None
            if row.state == "in_progress":
                await conn.execute(sa.update(b).where(b.c.id == batch_id).values(state="cancelling", cancelling_at=now))
                await events.append(conn, events.CANCELLING, batch_id, {"at": now})
            return str(row.state)

    async def finish(self, batch_id: str, status: str, *, failed_code: str | None = None,
                     failed_message: str = "", only_from: Sequence[str] = RUNNING) -> bool:
        """End a running batch as ``status`` (cancelled, expired, failed). With ``failed_code``, every
        line without a result gets an error line saying so (expired: ``batch_expired``)."""
        b = schema.batches
        now = time.time()
        async with self.engine.begin() as conn:
            await events.lock_events(conn)
            row = (await conn.execute(sa.update(b).where(b.c.id == batch_id).values(done=b.c.done)
                                      .returning(b.c.state, b.c.owner))).first()
            if row is None or row.state not in only_from:
                return False
            failed = 0
            if failed_code is not None:
                failed = await self._fail_pending(conn, batch_id, failed_code, failed_message, now)
            await self._finish(conn, batch_id, row.owner, status, now, failed)
        return True

    async def _fail_pending(self, conn: AsyncConnection, batch_id: str, code: str, message: str, now: float) -> int:
        lines, results = schema.batch_lines, schema.batch_results
        rows = (await conn.execute(
            sa.select(lines.c.line_no, lines.c.custom_id).where(
                lines.c.batch_id == batch_id,
                ~sa.exists().where(results.c.batch_id == batch_id, results.c.line_no == lines.c.line_no)))).all()
        for start in range(0, len(rows), INSERT_PAGE):
            await conn.execute(sa.insert(results), [
                {"batch_id": batch_id, "line_no": row.line_no, "custom_id": row.custom_id, "ok": False, "at": now,
                 "data": error_line(row.custom_id, row.line_no, code, message)} for row in rows[start:start + INSERT_PAGE]])
        if rows:
            b = schema.batches
            await conn.execute(sa.update(b).where(b.c.id == batch_id).values(done=b.c.done + len(rows)))
        return len(rows)

    async def _finish(self, conn: AsyncConnection, batch_id: str, owner: str, status: str, now: float,
                      failed: int = 0) -> None:
        b = schema.batches
        output, errors = await add_result_files(conn, batch_id, owner, now)
        await conn.execute(sa.update(b).where(b.c.id == batch_id).values(state=status, finished_at=now))
        await events.append(conn, events.FINISHED, batch_id, {"status": status, "at": now, "output_file_id": output,
                                                              "error_file_id": errors, "failed": failed})

    async def set_native(self, batch_id: str, native: dict[str, Any]) -> None:
        b = schema.batches
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(b).where(b.c.id == batch_id).values(native=native))

    async def mark_enqueued(self, batch_id: str, epoch: str) -> None:
        b = schema.batches
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(b).where(b.c.id == batch_id).values(enqueued=epoch))

    # -- what workers and the sweeper read ---------------------------------------------------------
    async def batch(self, batch_id: str) -> Any:
        b = schema.batches
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(b).where(b.c.id == batch_id))).first()

    async def running(self, mode: str | None = None) -> list[Any]:
        """The batches not finished, oldest first."""
        b = schema.batches
        where: list[Any] = [b.c.state.in_(RUNNING)]
        if mode is not None:
            where.append(b.c.mode == mode)
        async with self.engine.connect() as conn:
            return list((await conn.execute(sa.select(b).where(*where).order_by(b.c.created_at))).all())

    async def count_running(self) -> int:
        b = schema.batches
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).where(b.c.state.in_(RUNNING)))).scalar_one())

    async def pending(self, batch_id: str, first: int, last: int) -> list[Pending]:
        """The lines numbered ``first..last`` that have no result yet."""
        lines, results = schema.batch_lines, schema.batch_results
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(lines.c.line_no, lines.c.custom_id, lines.c.body).where(
                    lines.c.batch_id == batch_id, lines.c.line_no >= first, lines.c.line_no <= last,
                    ~sa.exists().where(results.c.batch_id == batch_id, results.c.line_no == lines.c.line_no))
                .order_by(lines.c.line_no))).all()
        return [Pending(row.line_no, row.custom_id, bytes(row.body)) for row in rows]

    async def chunks(self, batch_id: str, size: int, after: int = 0, limit: int | None = None) -> list[tuple[int, int]]:
        """``(first, last)`` line numbers of up to ``limit`` chunks of ``size`` lines still to run, after line ``after``."""
        lines, results = schema.batch_lines, schema.batch_results
        query = (sa.select(lines.c.line_no).where(
            lines.c.batch_id == batch_id, lines.c.line_no > after,
            ~sa.exists().where(results.c.batch_id == batch_id, results.c.line_no == lines.c.line_no))
            .order_by(lines.c.line_no))
        if limit is not None:
            query = query.limit(limit * size)
        async with self.engine.connect() as conn:
            numbers = [n for (n,) in (await conn.execute(query)).all()]
        return [(numbers[i], numbers[min(i + size, len(numbers)) - 1]) for i in range(0, len(numbers), size)]

    async def all_lines(self, batch_id: str) -> list[Pending]:
        lines = schema.batch_lines
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(lines.c.line_no, lines.c.custom_id, lines.c.body)
                                       .where(lines.c.batch_id == batch_id).order_by(lines.c.line_no))).all()
        return [Pending(row.line_no, row.custom_id, bytes(row.body)) for row in rows]
