"""The shared work queue: a Redis Streams consumer group (``redis:`` configured).

::

    <prefix>batch:lines    the stream: one entry per chunk, {b: batch id, f: first line, l: last line}
    <prefix>batch:epoch    this Redis's epoch (random; gone when Redis lost its data)

A chunk is put in when its batch is created (``enqueue``). Workers — ``switchyard worker``
processes, and gateway processes unless ``batch.in_gateway: false`` — read new entries with
``XREADGROUP``; an entry is pending on its consumer until ``XACK``ed once its results are
written. A worker renews the entries it runs (``XCLAIM … JUSTID`` of its own, resetting their
idle time) every third of ``batch.lease``; entries idle longer than the lease belong to a
worker that died, and the next ``XAUTOCLAIM`` (each worker looks about every second) hands them
to a live one. Acknowledged entries are trimmed (``XTRIM MINID`` below the oldest pending, or up
to the last delivered), so the stream holds only work not yet done; consumers that left with
nothing pending are removed from the group after a day.

Redis is not the record of the work: the database is. A Redis that lost its data (restarted
without persistence) has a new epoch; the sweeper puts the lines still without a result of every
running batch whose chunks went to another epoch back in (``batch.sweep_interval``).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

from switchyard.batch.worker import Chunk

GROUP = "switchyard-workers"
#: Consumers gone this long with nothing pending are removed from the group (milliseconds).
IDLE_CONSUMER_MS = 86_400_000
#: Acknowledgements between trims of the stream (and at most this many seconds apart).
TRIM_EVERY, TRIM_INTERVAL = 200, 5.0


def consumer_name() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class StreamQueue:
    """The stream's producer side (the gateway) and its epoch."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.key = prefix + "batch:lines"
        self.epoch_key = prefix + "batch:epoch"

    async def epoch(self) -> str:
        """This Redis's epoch, made on first use."""
        value = await self.client.get(self.epoch_key)
        if value is None:
            await self.client.set(self.epoch_key, secrets.token_hex(8), nx=True)
            value = await self.client.get(self.epoch_key)
        return value.decode() if isinstance(value, bytes) else str(value)

    async def enqueue(self, batch_id: str, ranges: Sequence[tuple[int, int]]) -> None:
        """One entry per chunk, in one round trip per thousand."""
        for start in range(0, len(ranges), 1000):
            pipe = self.client.pipeline(transaction=False)
            for first, last in ranges[start:start + 1000]:
                pipe.xadd(self.key, {"b": batch_id, "f": first, "l": last})
            await pipe.execute()

    async def length(self) -> int:
        return int(await self.client.xlen(self.key))


class StreamChunks:
    """A ``ChunkSource`` over the consumer group (see the module docstring). ``client`` is a
    Redis client of its own: its reads block for up to ``block`` seconds."""

    def __init__(self, client: Any, prefix: str, *, lease: float, block: float = 1.0,
                 consumer: str | None = None) -> None:
        self.client = client
        self.key = prefix + "batch:lines"
        self.consumer = consumer or consumer_name()
        self.lease_ms = max(1, int(lease * 1000))
        self.block_ms = max(1, int(block * 1000))
        self.claim_every = min(1.0, lease / 4)
        self._claimed_at = 0.0
        self._ready = False
        self._acks = 0
        self._trimmed_at = time.monotonic()
        #: Entries taken over from dead workers by this one (for tests and the benchmark).
        self.reclaimed = 0

    async def _setup(self) -> None:
        try:
            await self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: made already
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def take(self, room: int) -> list[Chunk]:
        if not self._ready:
            await self._setup()
        now = time.monotonic()
        try:
            if now - self._claimed_at >= self.claim_every:
                self._claimed_at = now
                _, entries, *_ = await self.client.xautoclaim(self.key, GROUP, self.consumer, self.lease_ms,
                                                              start_id="0-0", count=room)
                if entries:
                    self.reclaimed += len(entries)
                    if len(entries) >= room:  # there may be more: look again at the next take
                        self._claimed_at = 0.0
                    return [_chunk(entry_id, fields) for entry_id, fields in entries if fields]
            read = await self.client.xreadgroup(GROUP, self.consumer, {self.key: ">"}, count=room,
                                                block=self.block_ms)
        except Exception as exc:
            if "NOGROUP" in str(exc):  # Redis lost the stream: make it again (the sweeper refills it)
                self._ready = False
                return []
            raise
        chunks = [_chunk(entry_id, fields) for _, entries in read or () for entry_id, fields in entries]
        if not chunks and self._acks:  # idle: what was acknowledged since the last trim goes now
            await self.trim()
        return chunks

    async def done(self, chunk: Chunk) -> None:
        await self.client.xack(self.key, GROUP, chunk.ref)
        self._acks += 1
        if self._acks >= TRIM_EVERY or time.monotonic() - self._trimmed_at >= TRIM_INTERVAL:
            await self.trim()

    async def trim(self) -> None:
        """Drop acknowledged entries: everything below the oldest pending one (or the last delivered)."""
        self._acks, self._trimmed_at = 0, time.monotonic()
        groups = await self.client.xinfo_groups(self.key)
        ours = next((g for g in groups if _text(g.get("name")) == GROUP), None)
        if ours is None:
            return
        floor = ours.get("last-delivered-id")
        if int(ours.get("pending") or 0):
            summary = await self.client.xpending(self.key, GROUP)
            floor = summary.get("min") or floor
        if floor and _text(floor) != "0-0":
            await self.client.xtrim(self.key, minid=_text(floor), approximate=False)
        for consumer in await self.client.xinfo_consumers(self.key, GROUP):
            if not int(consumer.get("pending") or 0) and int(consumer.get("idle") or 0) > IDLE_CONSUMER_MS:
                await self.client.xgroup_delconsumer(self.key, GROUP, _text(consumer.get("name")))

    async def keep(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        mine = await self.client.xpending_range(self.key, GROUP, "-", "+", len(chunks) + 100,
                                                consumername=self.consumer)
        held = {_text(entry["message_id"]) for entry in mine}
        renew = [chunk.ref for chunk in chunks if _text(chunk.ref) in held]
        if renew:
            await self.client.xclaim(self.key, GROUP, self.consumer, 0, renew, justid=True)

    async def aclose(self) -> None:
        await self.client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _chunk(entry_id: Any, fields: dict[Any, Any]) -> Chunk:
    get = fields.get
    return Chunk(_text(get(b"b", get("b"))), int(get(b"f", get("f")) or 0), int(get(b"l", get("l")) or 0), entry_id)

