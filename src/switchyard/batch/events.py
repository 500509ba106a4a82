"""The batch commands as events: appended in the transaction that carries out the command.

Kinds and their data (JSON)::

    batch.created     {"doc": <the batch object as first shown>, "owner": <its owner's identity>}
    batch.lines       {"lines": [[line, ok, prompt, cached, completion, reasoning], ...]}  each line's result
    batch.cancelling  {"at": t}
    batch.finished    {"status": completed|cancelled|expired|failed, "at": t, "output_file_id", "error_file_id",
                       "failed": n}   (n: lines failed at the end, e.g. not run before the batch expired)

Appends take the event log's lock first (``storage/ordered.py``), so event ids commit in order
and the projector, following ``id > position``, never skips one.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from switchyard.storage import sql_schema as schema
from switchyard.storage.ordered import hold_append_lock

#: The event log's append lock (``storage/ordered.py``).
EVENT_LOG = "events"

CREATED, LINES, CANCELLING, FINISHED = "batch.created", "batch.lines", "batch.cancelling", "batch.finished"


async def lock_events(conn: AsyncConnection) -> None:
    """Take the event log's append lock for the rest of the transaction (PostgreSQL)."""
    await hold_append_lock(conn, EVENT_LOG)


async def append(conn: AsyncConnection, kind: str, subject: str, data: dict[str, Any]) -> None:
    """One event, in ``conn``'s transaction (which took ``lock_events`` first)."""
    await conn.execute(sa.insert(schema.events).values(at=time.time(), kind=kind, subject=subject,
                                                       data=orjson.dumps(data)))
