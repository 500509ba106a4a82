"""Where stored responses live: beside the durable store (``storage.url``).

A stored response is the ``response`` object, the input items it was asked with,
and the items of the conversation before them (what ``previous_response_id``
rebuilt), under its id and the scope of the caller that made it (its tenant, else
its key): ``get`` with another scope finds nothing, as if the id did not exist.
Every record expires ``responses.ttl`` seconds after it was written.

``response_store_for(durable, ttl)`` picks one:

- SQLite or PostgreSQL: the ``sy_responses`` table of the same database (from
  ``switchyard db upgrade``; a SQLite file is migrated on first use; ``sql_store.py``,
  imported only then), expired rows deleted as new ones are written;
- ``memory://`` and Redis: the store's ``kv`` with the TTL (in memory bounded by the
  store's ``max_keys``, the least recently written dropped first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

#: The default retention of a stored response: 30 days, as OpenAI keeps them.
DEFAULT_TTL = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    scope: str
    response: dict[str, Any]
    input: list[dict[str, Any]]
    #: The conversation before ``input`` (from ``previous_response_id``), oldest first.
    context: list[dict[str, Any]]
    created_at: float

    def conversation(self) -> list[dict[str, Any]]:
        """Every item up to and including this response's output: what a next turn follows."""
        return [*self.context, *self.input, *self.response.get("output", ())]

    def to_bytes(self) -> bytes:
        return orjson.dumps({"response": self.response, "input": self.input, "context": self.context})

    @classmethod
    def from_bytes(cls, response_id: str, scope: str, created_at: float, data: bytes) -> StoredResponse:
        body = orjson.loads(data)
        return cls(response_id, scope, body["response"], body["input"], body["context"], created_at)


class ResponseStore(Protocol):
    ttl: float

    async def put(self, stored: StoredResponse) -> None: ...

    async def get(self, response_id: str, scope: str) -> StoredResponse | None:
        """The response under ``response_id`` made in ``scope``; None if none (or expired)."""
        ...

    async def delete(self, response_id: str, scope: str) -> bool:
        """Remove it; False when there was none in ``scope``."""
        ...


class KvResponseStore:
    """Stored responses in a store's ``kv`` (memory, Redis), one key each with the TTL."""

    def __init__(self, kv: Any, ttl: float = DEFAULT_TTL) -> None:
        self.kv = kv
        self.ttl = ttl

    @staticmethod
    def _key(response_id: str) -> str:
        return f"responses:{response_id}"

    async def put(self, stored: StoredResponse) -> None:
        head = orjson.dumps([stored.scope, stored.created_at])
        await self.kv.set(self._key(stored.id), head + b"\n" + stored.to_bytes(), ttl=self.ttl)

    async def get(self, response_id: str, scope: str) -> StoredResponse | None:
        value = await self.kv.get(self._key(response_id))
        if value is None:
            return None
        head, _, data = value.partition(b"\n")
        owner, created_at = orjson.loads(head)
        if owner != scope:
            return None
        return StoredResponse.from_bytes(response_id, owner, created_at, data)

    async def delete(self, response_id: str, scope: str) -> bool:
        if await self.get(response_id, scope) is None:
            return False
        await self.kv.delete(self._key(response_id))
        return True


def response_store_for(durable: Any, ttl: float = DEFAULT_TTL) -> ResponseStore:
    """The response store beside ``durable``: its SQL table, else its ``kv``."""
    engine = getattr(durable, "engine", None)
    if engine is not None:  # a SQL store: SQLAlchemy is loaded already
        from switchyard.responses.sql_store import SqlResponseStore

        return SqlResponseStore(durable, ttl)
    return KvResponseStore(durable.kv, ttl)


def now() -> float:
    return time.time()
