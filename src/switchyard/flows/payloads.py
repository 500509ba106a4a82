"""Large step results stored by reference.

A step's result bigger than the threshold (64 KiB pickled by default) goes to the table
``flow_payloads`` once, keyed by the run and its SHA-256; the journal keeps a ``Ref``. A
replayed step loads it back. Retention removes a run's payloads with its journal.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from switchyard.flows.database import JournalDatabase
from switchyard.flows.errors import FlowError

DEFAULT_THRESHOLD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Ref:
    """A journaled pointer to a stored payload."""

    run_id: str
    digest: str
    size: int


class PayloadStore:
    """The payloads table beside DBOS's, over a synchronous SQLAlchemy engine (run in threads)."""

    def __init__(self, database: JournalDatabase, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._engine = sa.create_engine(database.sqlalchemy_url, pool_pre_ping=True)
        metadata = sa.MetaData(schema=database.schema)
        self._table = sa.Table(
            "flow_payloads", metadata,
            sa.Column("run_id", sa.String(128), primary_key=True),
            sa.Column("digest", sa.String(64), primary_key=True),
            sa.Column("body", sa.LargeBinary, nullable=False),
            sa.Column("created", sa.Float, nullable=False, index=True),
        )
        self._metadata = metadata
        self._schema = database.schema

    def create(self) -> None:
        with self._engine.begin() as connection:
            if self._schema is not None:
                connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"'))
            self._metadata.create_all(connection, checkfirst=True)

    def close(self) -> None:
        self._engine.dispose()

    async def store(self, run_id: str, value: Any) -> Any:
        """``value`` itself when small, else a ``Ref`` to it (written once)."""
        try:
            body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise FlowError(f"a step's result must be picklable to be journaled: {type(value).__name__}: {exc}") from exc
        if len(body) <= self.threshold:
            return value
        ref = Ref(run_id, hashlib.sha256(body).hexdigest(), len(body))
        await asyncio.to_thread(self._put, ref, body)
        return ref

    def _put(self, ref: Ref, body: bytes) -> None:
        table = self._table
        try:
            with self._engine.begin() as connection:
                connection.execute(table.insert().values(run_id=ref.run_id, digest=ref.digest, body=body,
                                                         created=time.time()))
        except sa.exc.IntegrityError:
            pass  # the same payload, stored already (a step replayed after a kill, or a twin)

    async def load(self, ref: Ref) -> Any:
        body = await asyncio.to_thread(self._get, ref)
        if body is None:
            raise FlowError(f"run {ref.run_id}: payload {ref.digest[:12]} is missing (removed by retention?)")
        return pickle.loads(body)

    def _get(self, ref: Ref) -> bytes | None:
        table = self._table
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(table.c.body).where(
                table.c.run_id == ref.run_id, table.c.digest == ref.digest)).first()
        return None if row is None else bytes(row[0])

    def remove(self, run_ids: list[str]) -> int:
        if not run_ids:
            return 0
        with self._engine.begin() as connection:
            return int(connection.execute(self._table.delete().where(self._table.c.run_id.in_(run_ids))).rowcount)

    def count(self) -> int:
        with self._engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(self._table)).scalar_one())
