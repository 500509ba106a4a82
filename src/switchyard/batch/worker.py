"""A worker: chunks of lines in, their results out — the same loop over either work queue.

Work comes in chunks (``batch.chunk_lines`` lines of one batch, by line numbers: the lines
themselves stay in the database and are read when the chunk runs — large payloads travel by
reference). A ``ChunkSource`` hands chunks out and takes them back:

* ``embedded.DatabaseChunks`` — the gateway's own (SQLite, or PostgreSQL without Redis): the
  pending lines of the batches this process holds a lease on;
* ``streams.StreamChunks`` — a Redis Streams consumer group (``switchyard worker``, and gateway
  processes too unless ``batch.in_gateway: false``).

For each chunk: the batch's state (a batch cancelled meanwhile runs nothing more), its owner's
caller, the lines still without a result, each run through the pipeline (``runner.py``) with
at most ``batch.concurrency`` lines in flight in the process; then the chunk's results in one
transaction, then the chunk acknowledged. A worker that dies before acknowledging leaves its
chunk to be handed out again when its lease ends; lines it had finished are skipped, and a
result written twice is one row. While a chunk runs its lease is renewed (``keep``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from switchyard.batch.runner import LineRunner
from switchyard.batch.store import BatchStore, Pending, Result
from switchyard.core.errors import SwitchyardError

log = logging.getLogger("switchyard.batch")


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines ``first..last`` of one batch; ``ref`` is the source's handle on it (a stream entry id)."""

    batch_id: str
    first: int
    last: int
    ref: Any = None


class ChunkSource(Protocol):
    async def take(self, room: int) -> list[Chunk]:
        """Up to ``room`` chunks; waits a little (about a second at most) when there are none."""
        ...

    async def done(self, chunk: Chunk) -> None:
        """The chunk's results are written: it is not handed out again."""
        ...

    async def keep(self, chunks: Sequence[Chunk]) -> None:
        """Renew the leases of chunks still running."""
        ...

    async def aclose(self) -> None: ...


class Worker:
    """Runs chunks from ``source`` until closed (see the module docstring)."""

    def __init__(self, store: BatchStore, runner: LineRunner, source: ChunkSource, auth: Any, *,
                 concurrency: int, chunk_lines: int, lease: float, name: str = "worker") -> None:
        self.store = store
        self.runner = runner
        self.source = source
        self.auth = auth
        self.name = name
        self.lease = lease
        self._lines = asyncio.Semaphore(concurrency)
        #: Chunks running at once: enough to keep every line slot busy, and one more being read.
        self.max_chunks = max(1, math.ceil(concurrency / chunk_lines)) + 1
        self._running: dict[asyncio.Task[None], Chunk] = {}
        self._room = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        #: Lines run and chunks finished by this worker (for the benchmark and the tests).
        self.lines = 0
        self.chunks = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop(), name=f"batch-{self.name}"),
                       loop.create_task(self._keeping(), name=f"batch-{self.name}-leases")]

    async def _loop(self) -> None:
        while not self._closing:
            room = self.max_chunks - len(self._running)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                chunks = await self.source.take(room)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the queue or the database is down: try again shortly
                log.warning("batch_take_failed", extra={"worker": self.name, "error": type(exc).__name__})
                await asyncio.sleep(1.0)
                continue
            for chunk in chunks:
                task = asyncio.get_running_loop().create_task(self._run(chunk))
                self._running[task] = chunk
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._room.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("batch_chunk_failed", exc_info=task.exception(), extra={"worker": self.name})

    async def _keeping(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.source.keep(list(self._running.values()))
            except Exception as exc:
                log.warning("batch_lease_renewal_failed", extra={"worker": self.name, "error": type(exc).__name__})

    async def _run(self, chunk: Chunk) -> None:
        batch = await self.store.batch(chunk.batch_id)
        if batch is None or batch.state != "in_progress" or batch.mode != "gateway":
            await self.source.done(chunk)  # finished, cancelled or unknown: nothing more to run
            return
        lines = await self.store.pending(chunk.batch_id, chunk.first, chunk.last)
        try:
            caller = self.auth.caller_for(batch.owner)
        except SwitchyardError as exc:
            results = [LineRunner.refused(line, exc) for line in lines]
        else:
            results = list(await asyncio.gather(*(self._line(line, caller, batch.endpoint) for line in lines)))
        await self.store.write_results(chunk.batch_id, results)
        await self.source.done(chunk)
        self.lines += len(results)
        self.chunks += 1

    async def _line(self, line: Pending, caller: Any, endpoint: str) -> Result:
        async with self._lines:
            return await self.runner.run(line, caller, endpoint)

    async def aclose(self, drain: float = 10.0) -> None:
        """Stop taking chunks; let the running ones finish (their results are written) for up to
        ``drain`` seconds, then stop them: their chunks are handed out again after their lease."""
        self._closing = True
        self._room.set()
        loop_task, keeping = self._tasks or (None, None)
        if loop_task is not None:
            loop_task.cancel()
            await asyncio.gather(loop_task, return_exceptions=True)
        if self._running:
            _, late = await asyncio.wait(list(self._running), timeout=drain)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if keeping is not None:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
        await self.source.aclose()
