"""The batch status read model: every batch as ``GET /v1/batches/{id}`` shows it (``sy_batch_view``).

Kept from the batch events (``batch/events.py``): ``batch.created`` puts the batch object in;
``batch.lines`` adds each line's result to ``request_counts`` and ``usage``; ``batch.cancelling``
and ``batch.finished`` move its status and set their times and files. The read side —
``get`` and ``page`` — reads this table only, never the write model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchyard.batch import events
from switchyard.storage import sql_schema as schema


def apply_event(doc: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    """``doc`` (a batch object) after the event ``kind`` with ``data``."""
    counts = doc["request_counts"]
    if kind == events.LINES:
        usage = doc["usage"]
        for _, ok, prompt, cached, completion, reasoning in data["lines"]:
            counts["completed" if ok else "failed"] += 1
            usage["input_tokens"] += prompt
            usage["input_tokens_details"]["cached_tokens"] += cached
            usage["output_tokens"] += completion
            usage["output_tokens_details"]["reasoning_tokens"] += reasoning
            usage["total_tokens"] += prompt + completion
    elif kind == events.CANCELLING:
        doc["status"] = "cancelling"
        doc["cancelling_at"] = int(data["at"])
    elif kind == events.FINISHED:
        status, at = data["status"], int(data["at"])
        counts["failed"] += int(data.get("failed") or 0)
        doc["status"] = status
        doc["output_file_id"] = data.get("output_file_id")
        doc["error_file_id"] = data.get("error_file_id")
        if status == "completed":
            doc["finalizing_at"] = doc["completed_at"] = at
        else:
            doc[f"{status}_at"] = at
            if status == "cancelled":
                doc["finalizing_at"] = at


class BatchView:
    """The projection (``apply``) and its reads (``get``, ``page``)."""

    name = "batches"
    source = schema.events
    columns = ("id", "at", "kind", "subject", "data")

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def apply(self, conn: AsyncConnection, rows: Sequence[Any]) -> None:
        t = schema.batch_view
        docs: dict[str, dict[str, Any]] = {}
        created: set[str] = set()
        owners: dict[str, str] = {}
        wanted = {row.subject for row in rows if row.kind != events.CREATED}
        if wanted:
            for row in (await conn.execute(sa.select(t.c.id, t.c.doc).where(t.c.id.in_(wanted)))).all():
                docs[row.id] = orjson.loads(row.doc)
        for row in rows:
            data = orjson.loads(row.data)
            if row.kind == events.CREATED:
                doc = docs[row.subject] = data["doc"]
                created.add(row.subject)
                owners[row.subject] = data.get("owner", "")
            elif row.subject in docs:
                apply_event(docs[row.subject], row.kind, data)
        for batch_id, doc in docs.items():
            values = {"status": doc["status"], "doc": orjson.dumps(doc)}
            if batch_id in created:
                await conn.execute(sa.insert(t).values(id=batch_id, owner=owners[batch_id],
                                                       created_at=float(doc["created_at"]), **values))
            else:
                await conn.execute(sa.update(t).where(t.c.id == batch_id).values(**values))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(sa.delete(schema.batch_view))

    # -- reads -------------------------------------------------------------------------------------
    async def get(self, batch_id: str) -> tuple[str, dict[str, Any]] | None:
        """``(owner, batch object)``, or None."""
        t = schema.batch_view
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.c.owner, t.c.doc).where(t.c.id == batch_id))).first()
        return None if row is None else (row.owner, orjson.loads(row.doc))

    async def page(self, owner: str | None, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Batches newest first after the batch ``after``; and whether there are more."""
        t = schema.batch_view
        where = [] if owner is None else [t.c.owner == owner]
        async with self.engine.connect() as conn:
            if after is not None:
                mark = (await conn.execute(sa.select(t.c.created_at, t.c.id).where(t.c.id == after))).first()
                if mark is not None:
                    where.append(sa.tuple_(t.c.created_at, t.c.id) < sa.tuple_(mark.created_at, mark.id))
            rows = (await conn.execute(sa.select(t.c.doc).where(*where)
                                       .order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit + 1))).all()
        return [orjson.loads(row.doc) for row in rows[:limit]], len(rows) > limit
