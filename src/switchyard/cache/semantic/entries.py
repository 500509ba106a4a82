"""Where the semantic cache's answers live: this process, or Redis for many replicas.

An ``Entry`` is one cached answer's record: who may see it (partition, alias,
context), its vector, when it was made and when it expires. The answer itself
travels beside it as opaque bytes (the cache stage decides their format).

``Entries`` is the store's protocol. ``MemoryEntries`` (the embedded default)
keeps answers in this process, dropped when the index drops their vectors.
``RedisEntries`` (``redis_entries.py``) keeps them in Redis, where every replica
reads them, and tells every replica's index about new entries and purges
through a Redis stream (``follow``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import msgspec


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """One cached answer's record (without the answer)."""

    id: str
    partition: str
    alias: str
    context: str
    #: The start of the prompt (for ``inspect``), at most ``PREVIEW`` characters.
    preview: str
    #: The unit vector, float32 little-endian.
    vector: bytes
    #: Unix times (seconds).
    created: float
    expires: float


class Added(msgspec.Struct, array_like=True, frozen=True, tag="add"):
    """An entry was stored (by any replica)."""

    entry: Entry


class Purged(msgspec.Struct, array_like=True, frozen=True, tag="purge"):
    """Every entry of ``partition`` (of ``alias`` only, unless None) stored before this was dropped."""

    partition: str
    alias: str | None


class CaughtUp:
    """Not stored: ``follow`` says once that it has read every event the feed held when it began."""


Event = Added | Purged

#: Characters of the prompt kept for ``inspect``.
PREVIEW = 120


class Entries(Protocol):
    """Where answers are kept, and how other processes hear of new ones."""

    #: True when other processes share these entries (then ``follow`` tells about theirs).
    shared: bool

    async def put(self, entry: Entry, answer: bytes, ttl: float) -> None:
        """Keep ``answer`` under ``entry.id`` for ``ttl`` seconds and tell every replica of the entry."""
        ...

    async def get(self, entry_id: str) -> tuple[Entry, bytes] | None:
        """The entry and its answer, or None when it expired, was dropped or purged."""
        ...

    def forget(self, entry_ids: Iterable[str]) -> None:
        """This process's index let these entries go (a shared store keeps them for the others)."""
        ...

    async def purge(self, partition: str, alias: str | None) -> int:
        """Delete every entry of ``partition`` (and ``alias``) and tell every replica; returns how many."""
        ...

    def follow(self) -> AsyncIterator[Event | CaughtUp]:
        """Every event from the oldest still kept, ``CaughtUp`` once those are read, then each
        new one as it happens (shared stores only)."""
        ...

    async def aclose(self) -> None: ...


class MemoryEntries:
    """Answers in this process (the embedded default): bounded by the index, which drops them."""

    shared = False

    def __init__(self) -> None:
        self._answers: dict[str, tuple[Entry, bytes]] = {}

    def __len__(self) -> int:
        return len(self._answers)

    async def put(self, entry: Entry, answer: bytes, ttl: float) -> None:
        self._answers[entry.id] = (msgspec.structs.replace(entry, vector=b""), answer)  # the index has the vector

    async def get(self, entry_id: str) -> tuple[Entry, bytes] | None:
        return self._answers.get(entry_id)

    def forget(self, entry_ids: Iterable[str]) -> None:
        for entry_id in entry_ids:
            self._answers.pop(entry_id, None)

    async def purge(self, partition: str, alias: str | None) -> int:
        gone = [i for i, (e, _) in self._answers.items()
                if e.partition == partition and (alias is None or e.alias == alias)]
        self.forget(gone)
        return len(gone)

    def follow(self) -> AsyncIterator[Event | CaughtUp]:
        raise NotImplementedError("memory entries are not shared: nothing to follow")

    async def aclose(self) -> None:
        self._answers.clear()


def encode_event(event: Event) -> bytes:
    return msgspec.msgpack.encode(event)


def decode_event(data: bytes) -> Event:
    event: Event = msgspec.msgpack.decode(data, type=Event)
    return event


def encode_stored(entry: Entry, answer: bytes) -> bytes:
    return msgspec.msgpack.encode((entry, answer))


def decode_stored(data: bytes) -> tuple[Entry, bytes]:
    return msgspec.msgpack.decode(data, type=tuple[Entry, bytes])


def entries_for(store: Any, *, max_entries: int) -> Entries:
    """The entries for the gateway's shared store: Redis -> ``RedisEntries`` (every replica
    sees them); none, or any other store -> ``MemoryEntries`` (this process)."""
    from switchyard.storage.redis_store import RedisStore

    if isinstance(store, RedisStore):
        from switchyard.cache.semantic.redis_entries import RedisEntries

        return RedisEntries(store.client, store.prefix, max_entries=max_entries)
    return MemoryEntries()
