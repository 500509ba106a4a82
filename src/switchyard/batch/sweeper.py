"""The sweeper: what has to happen to batches over time, done by one process at a time.

Every ``batch.sweep_interval`` the process holding the sweeper's lease (``batch:sweeper`` in
the durable store, renewed each round, taken over when its holder stops) looks at the running
batches:

* past ``expires_at`` -> ``expired``: every line without a result gets a ``batch_expired`` error line;
* ``cancelling`` for longer than ``batch.lease`` (every line then running has finished or been
  abandoned by a dead worker) -> ``cancelled``;
* native (``models.<alias>.batch.mode: native``) -> submitted to the provider, then polled every
  ``batch.native_poll_interval`` until its results can be fetched (``native.py``);
* with Redis: work whose chunks went to another epoch of the stream (Redis lost its data), or
  that was never put in (its gateway died right after creating it) -> put in again: the lines
  still without a result.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from switchyard.batch.store import BatchStore
from switchyard.core.config.batch import BatchConfig

log = logging.getLogger("switchyard.batch")

LEASE_KEY = "batch:sweeper"
#: Seconds a batch may go without its chunks in the stream before the sweeper puts them in.
UNQUEUED_GRACE = 60.0


class Sweeper:
    def __init__(self, store: BatchStore, kv: Any, settings: BatchConfig, *, queue: Any = None,
                 native: Any = None) -> None:
        self.store = store
        self.kv = kv
        self.settings = settings
        self.queue = queue
        self.native = native
        self.token = secrets.token_hex(8).encode()
        self._task: asyncio.Task[None] | None = None
        #: Rounds this process ran as the sweeper (for tests).
        self.rounds = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="batch-sweeper")

    async def _run(self) -> None:
        interval = self.settings.sweep_interval
        while True:
            try:
                if await self._lead(3 * interval + 1):
                    await self.sweep()
                    self.rounds += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("batch_sweep_failed", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
            await asyncio.sleep(interval)

    async def _lead(self, ttl: float) -> bool:
        if await self.kv.replace(LEASE_KEY, self.token, self.token, ttl=ttl):
            return True
        return bool(await self.kv.set_if_absent(LEASE_KEY, self.token, ttl=ttl))

    async def sweep(self) -> None:
        now = time.time()
        epoch = await self.queue.epoch() if self.queue is not None else None
        for batch in await self.store.running():
            try:
                await self._sweep_one(batch, now, epoch)
            except Exception as exc:  # one batch's provider or queue away: the others still move
                log.warning("batch_sweep_failed", extra={"batch": batch.id, "error": type(exc).__name__,
                                                         "detail": str(exc)[:200]})

    async def _sweep_one(self, batch: Any, now: float, epoch: str | None) -> None:
        if batch.expires_at <= now:
            await self.store.finish(batch.id, "expired", failed_code="batch_expired",
                                    failed_message="The batch expired before this line ran.")
        elif batch.state == "cancelling":
            if self.native is not None and batch.mode == "native":
                await self.native.cancel(batch)
            if (batch.cancelling_at or now) + self.settings.lease <= now:
                await self.store.finish(batch.id, "cancelled")
        elif batch.mode == "native":
            if self.native is not None:
                await self.native.advance(batch)
        elif self.queue is not None and batch.enqueued != epoch and (
                batch.enqueued is not None or batch.created_at + UNQUEUED_GRACE <= now):
            ranges = await self.store.chunks(batch.id, self.settings.chunk_lines)
            await self.queue.enqueue(batch.id, ranges)
            await self.store.mark_enqueued(batch.id, epoch or "")
            log.info("batch_requeued", extra={"batch": batch.id, "chunks": len(ranges)})

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            if await self.kv.get(LEASE_KEY) == self.token:
                await self.kv.delete(LEASE_KEY)
        except Exception:  # the store is going away too
            pass
