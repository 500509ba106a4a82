"""Conversation memory per session, in the storage layer.

``Memory`` is the protocol a run uses: the session's messages before the run, the run's
new messages after it. ``SessionMemory`` keeps each session as one JSON document under
``agent-memory:<session>`` in the store's key-value ability — so it works on every
backend (``memory://``, ``sqlite:///…``, ``postgresql://…``, ``redis://…``), shared between
processes by the durable and shared ones. Appends are compare-and-set (``replace``), so
two runs of one session never lose each other's messages. Bounded: at most
``max_messages`` are kept (the oldest go first, never splitting a tool call from its
results), each session expires ``ttl`` seconds after its last write.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import orjson

from switchyard.storage.protocols import KeyValue, Store

#: Attempts at a compare-and-set append under contention before giving up.
MAX_ATTEMPTS = 32
SESSION = "agent-memory:"
MAX_SESSION_ID = 256


class MemoryConflict(RuntimeError):
    """Concurrent writers kept changing the session; the append was not made."""


@runtime_checkable
class Memory(Protocol):
    """A conversation's messages, per session."""

    async def messages(self, session: str) -> list[dict[str, Any]]:
        """The session's messages, oldest first (empty for a new session)."""
        ...

    async def add(self, session: str, messages: list[dict[str, Any]]) -> None:
        """Append a run's new messages."""
        ...

    async def replace(self, session: str, messages: list[dict[str, Any]]) -> None:
        """Write the session's messages anew (a summary in place of the old ones)."""
        ...

    async def clear(self, session: str) -> None:
        """Forget the session."""
        ...


def check_session(session: str) -> str:
    if not isinstance(session, str) or not session or len(session) > MAX_SESSION_ID:
        raise ValueError(f"session: must be a non-empty string of at most {MAX_SESSION_ID} characters")
    return session


class SessionMemory:
    """Messages per session in a store's key-value ability (any backend)."""

    def __init__(self, store: Store | KeyValue, *, max_messages: int = 200, ttl: float | None = 30 * 86400.0) -> None:
        if not isinstance(max_messages, int) or max_messages < 2:
            raise ValueError("max_messages: must be a whole number of at least 2")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl: must be positive (or None: kept until cleared)")
        self.kv: KeyValue = store.kv if hasattr(store, "kv") else store
        self.max_messages = max_messages
        self.ttl = ttl

    async def messages(self, session: str) -> list[dict[str, Any]]:
        raw = await self.kv.get(SESSION + check_session(session))
        return list(orjson.loads(raw)) if raw else []

    async def add(self, session: str, messages: list[dict[str, Any]]) -> None:
        key = SESSION + check_session(session)
        for _ in range(MAX_ATTEMPTS):
            raw = await self.kv.get(key)
            kept = trim([*(orjson.loads(raw) if raw else []), *messages], self.max_messages)
            if await self.kv.replace(key, raw, orjson.dumps(kept), self.ttl):
                return
        raise MemoryConflict(f"session {session!r}: changed by others {MAX_ATTEMPTS} times in a row")

    async def replace(self, session: str, messages: list[dict[str, Any]]) -> None:
        await self.kv.set(SESSION + check_session(session), orjson.dumps(trim(messages, self.max_messages)),
                          self.ttl)

    async def clear(self, session: str) -> None:
        await self.kv.delete(SESSION + check_session(session))


def trim(messages: list[dict[str, Any]], most: int) -> list[dict[str, Any]]:
    """The newest ``most`` messages at most, starting at a user or system message (a tool's
    result never opens the history without the call it answers)."""
    if len(messages) <= most:
        return messages
    start = len(messages) - most
    while start < len(messages) and messages[start].get("role") not in ("user", "system"):
        start += 1
    return messages[start:]
