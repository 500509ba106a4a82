"""``sy_files``: uploaded files, and the output and error files of batches.

An upload is kept whole in its row (bounded by ``batch.max_file_bytes``). A batch's output and
error files are rows without content: their lines are the batch's results, read in line order
a page at a time when the file is downloaded, so a finished batch is never copied.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchyard.batch.shapes import new_id
from switchyard.storage import sql_schema as schema

#: Result lines read per query when a batch's file is downloaded.
PAGE = 1000


class FileStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, owner: str, purpose: str, filename: str, content: bytes) -> Any:
        t = schema.files
        file_id = new_id("file-")
        row = {"id": file_id, "owner": owner, "purpose": purpose, "filename": filename,
               "bytes": len(content), "created_at": time.time(), "content": content, "batch_id": None,
               "kind": None, "deleted": False}
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(t).values(**row))
        return await self.get(file_id)

    async def get(self, file_id: str) -> Any:
        """The live file's row without its content, or None."""
        t = schema.files
        columns = [c for c in t.c if c.name != "content"]
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(*columns).where(t.c.id == file_id, t.c.deleted.is_(False)))).first()

    async def content(self, file_id: str) -> bytes | None:
        t = schema.files
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(t.c.content).where(t.c.id == file_id))).scalar()

    async def list(self, owner: str | None, *, purpose: str | None, after: str | None, limit: int,
                   ascending: bool) -> list[Any]:
        """Live files, newest first (or oldest with ``ascending``), after the file ``after``."""
        t = schema.files
        columns = [c for c in t.c if c.name != "content"]
        where: list[Any] = [t.c.deleted.is_(False)]
        if owner is not None:
            where.append(t.c.owner == owner)
        if purpose is not None:
            where.append(t.c.purpose == purpose)
        order = (t.c.created_at.asc(), t.c.id.asc()) if ascending else (t.c.created_at.desc(), t.c.id.desc())
        async with self.engine.connect() as conn:
            if after is not None:
                mark = (await conn.execute(sa.select(t.c.created_at, t.c.id).where(t.c.id == after))).first()
                if mark is not None:
                    later = sa.tuple_(t.c.created_at, t.c.id) > sa.tuple_(mark.created_at, mark.id)
                    earlier = sa.tuple_(t.c.created_at, t.c.id) < sa.tuple_(mark.created_at, mark.id)
                    where.append(later if ascending else earlier)
            return list((await conn.execute(sa.select(*columns).where(*where).order_by(*order).limit(limit))).all())

    async def delete(self, file_id: str) -> bool:
        t = schema.files
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.update(t).where(t.c.id == file_id, t.c.deleted.is_(False))
                                      .values(deleted=True, content=None))
        return bool(done.rowcount)

    async def results(self, batch_id: str, ok: bool) -> AsyncIterator[bytes]:
        """A batch's output (``ok``) or error file: its result lines in line order, each with its newline."""
        t = schema.batch_results
        after = 0
        while True:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(
                    sa.select(t.c.line_no, t.c.data).where(t.c.batch_id == batch_id, t.c.ok.is_(ok),
                                                           t.c.line_no > after)
                    .order_by(t.c.line_no).limit(PAGE))).all()
            if rows:
                yield b"".join(bytes(row.data) + b"\n" for row in rows)
            if len(rows) < PAGE:
                return
            after = rows[-1].line_no


async def add_result_files(conn: AsyncConnection, batch_id: str, owner: str, now: float) -> tuple[str | None, str | None]:
    """In a batch's finishing transaction: its output and error files (each only when it has lines),
    their sizes summed from the results. Returns their ids."""
    t = schema.batch_results
    sizes = (await conn.execute(
        sa.select(t.c.ok, sa.func.count(), sa.func.sum(sa.func.length(t.c.data)))
        .where(t.c.batch_id == batch_id).group_by(t.c.ok))).all()
    ids: dict[bool, str | None] = {True: None, False: None}
    for ok, count, length in sizes:
        if not count:
            continue
        file_id = ids[bool(ok)] = new_id("file-")
        kind = "output" if ok else "error"
        await conn.execute(sa.insert(schema.files).values(
            id=file_id, owner=owner, purpose="batch_output", filename=f"{batch_id}_{kind}.jsonl",
            bytes=int(length or 0) + int(count), created_at=now, content=None, batch_id=batch_id, kind=kind,
            deleted=False))
    return ids[True], ids[False]
