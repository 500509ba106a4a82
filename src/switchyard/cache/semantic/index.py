"""This process's vector index: one bucket per context, bounded, entries expiring.

``SemanticIndex`` maps each context — ``(partition, alias, digest)`` — to its
``Bucket`` and keeps, per entry, what purging, expiry and inspection need. It is
bounded by ``max_entries``: adding past it drops the least recently used entry
(a hit counts as a use). Entries past their expiry are never returned and are
swept as time passes (a heap of expiry times, looked at on every add and search).

The index holds vectors and ids only; answers live in the entry store
(``entries.py``), which may be shared by many processes.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from switchyard.cache.semantic.bucket import Bucket, Vector

#: ``(partition, alias, context digest)``: the entries one lookup may see.
BucketKey = tuple[str, str, str]


@dataclass(slots=True)
class Slot:
    """What the index keeps about one entry besides its vector."""

    key: BucketKey
    created: float
    expires: float
    preview: str
    hits: int = 0


class SemanticIndex:
    """Buckets of vectors by context, at most ``max_entries`` entries in all. ``on_drop(ids)``
    hears of every entry that leaves (evicted, expired, removed, purged)."""

    def __init__(self, max_entries: int, on_drop: Callable[[list[str]], None] | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.on_drop = on_drop
        self.buckets: dict[BucketKey, Bucket] = {}
        self.slots: OrderedDict[str, Slot] = OrderedDict()  # least recently used first
        self._expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self.slots)

    def __contains__(self, entry_id: str) -> bool:
        return entry_id in self.slots

    def add(self, entry_id: str, key: BucketKey, vector: Vector, *, created: float, expires: float,
            preview: str, now: float) -> list[str]:
        """Add an entry (already present: nothing changes); returns the ids dropped to stay
        within ``max_entries`` or because they expired."""
        dropped = self.expire(now)
        if entry_id in self.slots or expires <= now:
            return dropped
        bucket = self.buckets.get(key)
        if bucket is not None and bucket.dim != vector.shape[0]:  # the embedding model changed under its name
            stale = list(bucket.ids)
            for old in stale:
                self._remove(old)
            dropped += self._dropped(stale)
            bucket = None
        if bucket is None:
            bucket = self.buckets[key] = Bucket(vector.shape[0])
        bucket.add(entry_id, vector)
        self.slots[entry_id] = Slot(key, created, expires, preview)
        heapq.heappush(self._expiry, (expires, entry_id))
        evicted = []
        while len(self.slots) > self.max_entries:
            oldest = next(iter(self.slots))
            self._remove(oldest)
            evicted.append(oldest)
        if len(self._expiry) > 2 * len(self.slots) + 64:  # ids removed otherwise linger in the heap
            self._expiry = [(slot.expires, i) for i, slot in self.slots.items()]
            heapq.heapify(self._expiry)
        return dropped + self._dropped(evicted)

    def nearest(self, key: BucketKey, vector: Vector, now: float) -> tuple[str, float] | None:
        """The live entry of ``key``'s bucket most similar to ``vector``, with its similarity."""
        self.expire(now)
        bucket = self.buckets.get(key)
        if bucket is None or bucket.dim != vector.shape[0]:
            return None
        return bucket.nearest(vector)

    def touch(self, entry_id: str) -> None:
        """A hit: the entry becomes the most recently used."""
        slot = self.slots.get(entry_id)
        if slot is not None:
            slot.hits += 1
            self.slots.move_to_end(entry_id)

    def remove(self, entry_id: str) -> bool:
        if not self._remove(entry_id):
            return False
        if self.on_drop is not None:
            self.on_drop([entry_id])
        return True

    def _remove(self, entry_id: str) -> bool:
        slot = self.slots.pop(entry_id, None)
        if slot is None:
            return False
        bucket = self.buckets[slot.key]
        bucket.remove(entry_id)
        if not len(bucket):
            del self.buckets[slot.key]
        return True

    def _dropped(self, ids: list[str]) -> list[str]:
        if ids and self.on_drop is not None:
            self.on_drop(ids)
        return ids

    def expire(self, now: float) -> list[str]:
        """Drop the entries whose time has come; returns their ids."""
        gone: list[str] = []
        heap = self._expiry
        while heap and heap[0][0] <= now:
            _, entry_id = heapq.heappop(heap)
            slot = self.slots.get(entry_id)
            if slot is not None and slot.expires <= now:
                self._remove(entry_id)
                gone.append(entry_id)
        return self._dropped(gone)

    def purge(self, partition: str, alias: str | None = None) -> list[str]:
        """Drop every entry of ``partition`` (of ``alias`` only, when given); returns their ids."""
        keys = [k for k in self.buckets if k[0] == partition and (alias is None or k[1] == alias)]
        gone: list[str] = []
        for key in keys:
            gone.extend(self.buckets.pop(key).ids)
        for entry_id in gone:
            del self.slots[entry_id]
        return self._dropped(gone)

    def entries(self, partition: str | None = None, alias: str | None = None) -> Iterator[tuple[str, Slot]]:
        """The entries (of ``partition``, of ``alias``), most recently used first."""
        for entry_id in reversed(self.slots):
            slot = self.slots[entry_id]
            if (partition is None or slot.key[0] == partition) and (alias is None or slot.key[1] == alias):
                yield entry_id, slot

    def summary(self, partition: str | None = None, alias: str | None = None) -> list[dict[str, Any]]:
        """Per partition and alias: entries, contexts (distinct system prompts, tools...), hits."""
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for key, bucket in self.buckets.items():
            if (partition is not None and key[0] != partition) or (alias is not None and key[1] != alias):
                continue
            group = groups.setdefault((key[0], key[1]), {"partition": key[0], "alias": key[1], "entries": 0,
                                                         "contexts": 0, "hits": 0})
            group["entries"] += len(bucket)
            group["contexts"] += 1
            group["hits"] += sum(self.slots[i].hits for i in bucket.ids)
        return sorted(groups.values(), key=lambda g: (g["partition"], g["alias"]))
