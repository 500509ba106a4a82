"""The gateway's own work queue: pending lines read from the database (no Redis).

A process takes a batch by a lease in the durable store's key-value table (``batch:run:<id>``,
renewed while it works, gone ``batch.lease`` seconds after it stops), so gateway replicas
sharing a PostgreSQL database never run one batch's lines twice at once, and a batch whose
process died is taken over. Chunks are the batch's lines without a result, in line order, a
cursor at a time; at the end of a pass with nothing outstanding the batch is scanned once more
(a chunk whose results could not be written is found again), and released when nothing is left.
This is the embedded default's in-process task group, not a scheduler: one batch's progress
lives in its rows, and any process can pick it up.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Any

from switchyard.batch.store import BatchStore
from switchyard.batch.worker import Chunk


class DatabaseChunks:
    """A ``ChunkSource`` over the database (see the module docstring)."""

    def __init__(self, store: BatchStore, kv: Any, *, chunk_lines: int, lease: float, poll: float = 1.0) -> None:
        self.store = store
        self.kv = kv
        self.chunk_lines = chunk_lines
        self.lease = lease
        self.poll = poll
        self.token = secrets.token_hex(8).encode()
        self._held: dict[str, int] = {}  # batch id -> the last line handed out in this pass
        self._outstanding: dict[str, int] = {}  # batch id -> chunks handed out, not done
        self._rescanned: set[str] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A batch was created here: look now rather than at the next poll."""
        self._wake.set()

    @staticmethod
    def _key(batch_id: str) -> str:
        return f"batch:run:{batch_id}"

    async def take(self, room: int) -> list[Chunk]:
        out = await self._from_held(room)
        if not out:
            await self._claim()
            out = await self._from_held(room)
        if not out:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
            except TimeoutError:
                pass
        return out

    async def _claim(self) -> None:
        for batch in await self.store.running("gateway"):
            if batch.id in self._held or batch.state != "in_progress":
                continue
            if await self.kv.set_if_absent(self._key(batch.id), self.token, ttl=self.lease):
                self._held[batch.id] = 0

    async def _from_held(self, room: int) -> list[Chunk]:
        out: list[Chunk] = []
        for batch_id in list(self._held):
            if len(out) >= room:
                break
            after = self._held[batch_id]
            ranges = await self.store.chunks(batch_id, self.chunk_lines, after=after, limit=room - len(out))
            if ranges:
                self._held[batch_id] = ranges[-1][1]
                self._outstanding[batch_id] = self._outstanding.get(batch_id, 0) + len(ranges)
                self._rescanned.discard(batch_id)
                out.extend(Chunk(batch_id, first, last) for first, last in ranges)
            elif not self._outstanding.get(batch_id):
                if after and batch_id not in self._rescanned:  # once more from the start
                    self._held[batch_id] = 0
                    self._rescanned.add(batch_id)
                else:
                    await self._release(batch_id)
        return out

    async def _release(self, batch_id: str) -> None:
        self._held.pop(batch_id, None)
        self._outstanding.pop(batch_id, None)
        self._rescanned.discard(batch_id)
        key = self._key(batch_id)
        if await self.kv.get(key) == self.token:
            await self.kv.delete(key)

    async def done(self, chunk: Chunk) -> None:
        left = self._outstanding.get(chunk.batch_id, 0) - 1
        if left > 0:
            self._outstanding[chunk.batch_id] = left
        else:
            self._outstanding.pop(chunk.batch_id, None)

    async def keep(self, chunks: Sequence[Chunk]) -> None:
        for batch_id in list(self._held):
            if not await self.kv.replace(self._key(batch_id), self.token, self.token, ttl=self.lease):
                self._held.pop(batch_id, None)  # lost it (a pause longer than the lease): another took over

    async def aclose(self) -> None:
        for batch_id in list(self._held):
            await self._release(batch_id)
