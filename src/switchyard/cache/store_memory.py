"""Entries in this process: an LRU bounded by bytes, each entry with its own TTL.

An ``OrderedDict`` from ``(partition, canonical request)`` to ``(entry, size,
expires)``: a hit moves its entry to the end, a put past ``max_bytes`` drops from
the front (the least recently used) until the total fits; the key's bytes count
too. An expired entry is dropped when a lookup meets it, or in its turn as the
least recently used. Entries larger than
``max_entry_bytes`` are not kept. Nothing here awaits: a lookup is a dict access.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from switchyard.cache.entry import Entry, usage_of


class MemoryStore:
    """``ResponseStore`` in this process (see the module docstring)."""

    def __init__(self, max_bytes: int, max_entry_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        #: The largest entry kept (neither above ``max_entry_bytes`` nor the whole bound).
        self._largest = min(max_entry_bytes, max_bytes)
        self.clock = clock
        self.bytes = 0
        self.evicted = 0
        self._entries: OrderedDict[tuple[str, bytes], tuple[Entry, int, float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, partition: str, key: bytes) -> Entry | None:
        return self.get_now(partition, key)

    async def put(self, partition: str, key: bytes, entry: Entry, ttl: float) -> None:
        self.put_now(partition, key, entry, ttl)

    def get_now(self, partition: str, key: bytes) -> Entry | None:
        return self.lookup((partition, key))

    def put_now(self, partition: str, key: bytes, entry: Entry, ttl: float, price: Any = None) -> None:
        self.keep((partition, key), entry, ttl, price)

    def lookup(self, where: tuple[str, bytes]) -> Entry | None:
        """``get`` of ``(partition, key)`` without awaiting (the stage's fast path)."""
        entries = self._entries
        found = entries.get(where)
        if found is None:
            return None
        entry, size, expires, price = found
        if expires <= self.clock():
            del entries[where]
            self.bytes -= size
            return None
        entries.move_to_end(where)
        if entry.cost < 0:  # kept unpriced (``put_now(..., price)``): priced once, at its first hit
            usage = usage_of(entry.usage)
            entry.cost = price.cost(usage) if price is not None and usage is not None else 0.0
        return entry

    def keep(self, where: tuple[str, bytes], entry: Entry, ttl: float, price: Any = None) -> None:
        """``put`` at ``(partition, key)`` without awaiting (the stage's fast path). An entry whose
        ``cost`` is negative is priced by ``price`` (a ``PriceSheet``) when first found: most entries
        are never hit, and the pipeline prices the answer that made them anyway."""
        body = entry.body
        if body is None or entry.pieces or entry.native is not None:
            size = entry.size() + len(where[0]) + len(where[1])
        else:  # a plain unary answer, the usual miss: counted inline
            size = 96 + len(body) + len(where[0]) + len(where[1])
        if size > self._largest:
            return
        entries = self._entries
        old = entries.pop(where, None)
        total = self.bytes + size if old is None else self.bytes + size - old[1]
        entries[where] = (entry, size, self.clock() + ttl, price)
        if total > self.max_bytes:
            while total > self.max_bytes:
                _, (_, dropped, _, _) = entries.popitem(last=False)
                total -= dropped
                self.evicted += 1
        self.bytes = total

    async def aclose(self) -> None:
        self._entries.clear()
        self.bytes = 0
