"""The persistent shared index: chunks and vectors in SQL (PostgreSQL, or SQLite embedded),
searched in each process's memory, kept fresh by a change sequence.

Neither plain PostgreSQL (no pgvector here) nor plain Redis (no search module)
can compare vectors server-side, so whichever holds them, every search compares
them in the process. What the shared store must give is durability, atomic
replacement of a file's chunks, and a cheap "what changed since" — and a SQL
table gives all three: every write takes the next number of one counter row (its
lock held to commit, so numbers become visible in order), a process keeps a
mirror of each namespace (``ExactIndex``) and, before a search, reads only the
rows numbered past what it saw — one indexed query, empty when nothing changed.
A delete is a row marked deleted under a new number, so every mirror hears of it.
(Redis would need a stream beside the hashes for the same, and holds everything
in its memory: ``bench/components.py`` measures the SQL choice.)

``url``: ``postgresql://…`` (``?schema=name`` puts the tables in that schema) or
``sqlite:///path`` (the storage URLs of the gateway). The tables (``<table>`` and ``<table>_seq``) are created when first
used.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from switchyard.components.index_memory import MAX_CHUNKS, ExactIndex, check_add, check_search
from switchyard.components.protocols import DEFAULT_NAMESPACE, Chunk, Filter, Hit, matches
from switchyard.core.errors import InvalidRequest

#: Rows read per query while catching up.
PAGE = 5000


def tables(name: str) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    if not name.replace("_", "").isalnum():
        raise InvalidRequest(f"table must be letters, digits and underscores, got {name!r}", param="table")
    metadata = sa.MetaData()
    chunks = sa.Table(
        name, metadata,
        sa.Column("namespace", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(1000), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("meta", sa.Text, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Index(f"{name}_changes", "namespace", "seq"),
    )
    seq = sa.Table(f"{name}_seq", metadata,
                   sa.Column("name", sa.String(20), primary_key=True),
                   sa.Column("value", sa.BigInteger, nullable=False))
    return metadata, chunks, seq


class SqlIndex:
    """Chunks in a SQL table shared by every process; each searches its own fresh mirror."""

    name = "sql"

    def __init__(self, *, url: str, table: str = "switchyard_chunks", max_chunks: int = MAX_CHUNKS) -> None:
        from switchyard.storage.sql import engine_for
        from switchyard.storage.url import StoreURLError, parse

        try:
            spec = parse(url, prefix="", options={}, field_name="url")
            if spec.scheme not in ("sqlite", "postgresql", "postgres"):
                raise InvalidRequest(f"url must be postgresql://... or sqlite:///path, not {spec.scheme}://",
                                     param="url")
            self.engine = engine_for(spec)
        except StoreURLError as exc:
            raise InvalidRequest(str(exc), param="url") from None
        self._url = url  # may hold a password: never shown
        self.dialect = spec.scheme
        self.schema = str(spec.options.get("schema") or "") if spec.scheme != "sqlite" else ""
        self.metadata, self.table, self.seq = tables(table)
        self.mirror = ExactIndex(max_chunks=max_chunks)
        #: Per namespace, the last change read: ``(seq, id)`` inside a change read in pages, ``(seq, None)`` after it.
        self._seen: dict[str, tuple[int, str | None]] = {}
        self._ready = False
        self._lock = asyncio.Lock()

    def sharing(self) -> SqlIndex:
        """Another instance on the same tables (as another process would open them)."""
        return SqlIndex(url=self._url, table=self.table.name, max_chunks=self.mirror.max_chunks)

    def __repr__(self) -> str:
        return f"SqlIndex(dialect={self.dialect!r}, table={self.table.name!r})"

    async def _prepare(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            for attempt in range(2):  # another process creating the same tables at the same moment wins once
                try:
                    async with self.engine.begin() as conn:
                        if self.schema:  # checked by engine_for: letters, digits and underscores
                            await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
                        await conn.run_sync(self.metadata.create_all, checkfirst=True)
                    break
                except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                    if attempt:
                        raise
            async with self.engine.begin() as conn:
                exists = (await conn.execute(sa.select(self.seq.c.value).where(self.seq.c.name == "seq"))).first()
                if exists is None:
                    try:
                        await conn.execute(sa.insert(self.seq).values(name="seq", value=0))
                    except sa.exc.IntegrityError:  # another process made it first
                        pass
            self._ready = True

    async def _next(self, conn: Any) -> int:
        """The next change number; the counter row stays locked until this transaction commits."""
        result = await conn.execute(sa.update(self.seq).where(self.seq.c.name == "seq")
                                    .values(value=self.seq.c.value + 1).returning(self.seq.c.value))
        return int(result.scalar_one())

    def _upsert(self, rows: list[dict[str, Any]]) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        insert: Any = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        statement = insert(self.table).values(rows)
        keep = {c: statement.excluded[c] for c in ("seq", "document", "text", "meta", "vector", "deleted")}
        return statement.on_conflict_do_update(index_elements=["namespace", "id"], set_=keep)

    async def add(self, chunks: Sequence[Chunk], vectors: Any, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        matrix = check_add(chunks, vectors)
        if not namespace:
            raise InvalidRequest("namespace must not be empty", param="namespace")
        if not chunks:
            return
        await self._prepare()
        async with self.engine.begin() as conn:
            rows = self._rows(chunks, matrix, namespace, await self._next(conn))
            for start in range(0, len(rows), 500):
                await conn.execute(self._upsert(rows[start:start + 500]))

    async def delete(self, *, ids: Sequence[str] = (), where: Filter | None = None,
                     namespace: str = DEFAULT_NAMESPACE) -> int:
        """Chunks by id, or those whose metadata passes ``where`` as of this process's fresh mirror."""
        if not ids and not where:
            raise InvalidRequest("delete needs ids or a where filter (nothing is deleted wholesale)", param="ids")
        doomed = await self._doomed(ids, where, namespace)
        if doomed:
            async with self.engine.begin() as conn:
                await self._mark_deleted(conn, doomed, namespace, await self._next(conn))
        return len(doomed)

    async def replace(self, where: Filter, chunks: Sequence[Chunk], vectors: Any, *,
                      namespace: str = DEFAULT_NAMESPACE) -> int:
        """Delete what ``where`` selects and add ``chunks``, in one transaction (a file's new chunks
        never appear beside its old ones, and a failure leaves the old ones); the number deleted."""
        matrix = check_add(chunks, vectors)
        doomed = await self._doomed((), where, namespace)
        rows = self._rows(chunks, matrix, namespace, 0)
        async with self.engine.begin() as conn:
            seq = await self._next(conn)
            kept = {row["id"] for row in rows}
            await self._mark_deleted(conn, [cid for cid in doomed if cid not in kept], namespace, seq)
            for start in range(0, len(rows), 500):
                await conn.execute(self._upsert([{**row, "seq": seq} for row in rows[start:start + 500]]))
        return len(doomed)

    async def _doomed(self, ids: Sequence[str], where: Filter | None, namespace: str) -> list[str]:
        await self._sync(namespace)
        held = {c.id: c for c in await self.mirror.chunks(namespace=namespace)}
        return sorted({cid for cid in ids if cid in held}
                      | ({cid for cid, c in held.items() if matches(c.metadata, where)} if where else set()))

    async def _mark_deleted(self, conn: Any, doomed: list[str], namespace: str, seq: int) -> None:
        for start in range(0, len(doomed), 500):
            await conn.execute(sa.update(self.table)
                               .where(self.table.c.namespace == namespace, self.table.c.id.in_(doomed[start:start + 500]))
                               .values(seq=seq, deleted=True, vector=None, text="", meta="{}"))

    def _rows(self, chunks: Sequence[Chunk], matrix: Any, namespace: str, seq: int) -> list[dict[str, Any]]:
        last = {chunk.id: row for row, chunk in enumerate(chunks)}  # a chunk given twice: its last vector
        return [{"namespace": namespace, "id": cid, "seq": seq, "document": chunks[row].document,
                 "text": chunks[row].text, "meta": json.dumps(dict(chunks[row].metadata), default=str),
                 "vector": matrix[row].astype(np.float32).tobytes(), "deleted": False}
                for cid, row in last.items()]

    async def _sync(self, namespace: str) -> None:
        """Read the namespace's rows changed since the last look into the mirror, a page at a time
        (the cursor is ``(seq, id)``: one change may hold more rows than a page)."""
        await self._prepare()
        t = self.table
        while True:
            seq, after = self._seen.get(namespace, (0, None))
            # caught up (after is None): one range of the (namespace, seq) index, empty when nothing changed
            changed = t.c.seq > seq if after is None else sa.or_(t.c.seq > seq, sa.and_(t.c.seq == seq, t.c.id > after))
            async with self.engine.connect() as conn:
                rows = (await conn.execute(
                    sa.select(t.c.id, t.c.seq, t.c.document, t.c.text, t.c.meta, t.c.vector, t.c.deleted)
                    .where(t.c.namespace == namespace, changed).order_by(t.c.seq, t.c.id).limit(PAGE))).all()
            if not rows:
                self._seen[namespace] = (seq, None)
                return
            gone = [r.id for r in rows if r.deleted]
            kept = [r for r in rows if not r.deleted]
            if gone:
                await self.mirror.delete(ids=gone, namespace=namespace)
            if kept:
                chunks = [Chunk(id=r.id, text=r.text, document=r.document, metadata=json.loads(r.meta)) for r in kept]
                matrix = np.stack([np.frombuffer(r.vector, dtype=np.float32) for r in kept])
                await self.mirror.add(chunks, matrix, namespace=namespace)
            if len(rows) < PAGE:
                self._seen[namespace] = (int(rows[-1].seq), None)
                return
            self._seen[namespace] = (int(rows[-1].seq), str(rows[-1].id))

    async def search(self, vector: Any, k: int, *, namespace: str = DEFAULT_NAMESPACE,
                     where: Filter | None = None) -> list[Hit]:
        check_search(k, namespace)
        await self._sync(namespace)
        return await self.mirror.search(vector, k, namespace=namespace, where=where)

    async def chunks(self, *, namespace: str = DEFAULT_NAMESPACE) -> list[Chunk]:
        await self._sync(namespace)
        return await self.mirror.chunks(namespace=namespace)

    async def version(self, *, namespace: str = DEFAULT_NAMESPACE) -> int:
        await self._sync(namespace)
        return self._seen.get(namespace, (0, None))[0]

    async def aclose(self) -> None:
        await self.engine.dispose()
