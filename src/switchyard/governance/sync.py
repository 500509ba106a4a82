"""Keeping a replica's snapshot in step with the directory.

::

    start     load everything (the directory's changes after revision 0)
    listen    the ``directory`` channel: any message wakes the catch-up at once
              (Redis pub/sub when ``redis:`` is set, else the durable store's own:
              PostgreSQL LISTEN/NOTIFY, or in this process for SQLite and memory)
    poll      every ``governance.poll_interval`` (1 s): catch up — one query that
              finds nothing when nothing changed (the safety net under lost
              messages, and all there is for processes sharing a SQLite file)
    reload    every ``governance.full_reload_interval``: everything, built aside
              and swapped in

A catch-up asks for the changes after the snapshot's revision, so a message
carries nothing but "look now": lost, repeated or reordered messages change
nothing, and the subscription's buffer is small (the newest message matters).
After a write through this replica's admin API, ``changed()`` catches up
before the answer is sent (this replica refuses a revoked key at once) and
then publishes for the others.
"""

from __future__ import annotations

import asyncio
import logging
import time

from switchyard.core.config.governance import GovernanceConfig
from switchyard.governance.directory import Changes, Directory
from switchyard.governance.snapshot import KeySnapshot
from switchyard.storage import PubSub

log = logging.getLogger("switchyard.governance")

CHANNEL = "directory"
#: Messages a subscription keeps; any one of them is enough to catch up.
BUFFER = 16


class DirectorySync:
    """Loads the directory into ``snapshot`` and follows its changes."""

    def __init__(self, directory: Directory, snapshot: KeySnapshot, pubsub: PubSub | None,
                 config: GovernanceConfig) -> None:
        self.directory = directory
        self.snapshot = snapshot
        self.pubsub = pubsub
        self.config = config
        self.errors = 0
        #: When the snapshot last caught up (monotonic), for readiness and tests.
        self.caught_up_at = 0.0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Ready the directory, load everything, then follow changes in the background."""
        await self.directory.start()
        await self.reload()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(), name="switchyard-directory-sync")]
        if self.pubsub is not None:
            self._tasks.append(loop.create_task(self._listen(), name="switchyard-directory-listen"))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def catch_up(self) -> int:
        """Apply every change after the snapshot's revision; returns the revision held."""
        async with self._lock:
            changes = await self.directory.changes(self.snapshot.revision)
            await self._apply(self.snapshot, changes)
            self.caught_up_at = time.monotonic()
            return self.snapshot.revision

    async def reload(self) -> None:
        """Everything again, built aside and swapped in at once."""
        async with self._lock:
            fresh = KeySnapshot()
            await self._apply(fresh, await self.directory.changes(0))
            self.snapshot.replace_with(fresh)
            self.caught_up_at = time.monotonic()

    @staticmethod
    async def _apply(snapshot: KeySnapshot, changes: Changes) -> None:
        for _ in snapshot.apply(changes.records, changes.revision):
            await asyncio.sleep(0)  # a large batch lets requests through between slices

    async def changed(self, revision: int) -> None:
        """A write through this replica: hold it here at once, then tell the others."""
        await self.catch_up()
        if self.pubsub is not None:
            try:
                await self.pubsub.publish(CHANNEL, str(revision).encode())
            except Exception as exc:  # the others still catch up by polling
                self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 100 == 0:
            log.warning("directory sync failed (%s errors so far): %s", self.errors, type(exc).__name__)

    async def _run(self) -> None:
        next_reload = time.monotonic() + self.config.full_reload_interval
        while True:
            try:  # not asyncio.wait_for: on 3.11 it swallows a cancel that meets a wake-up
                async with asyncio.timeout(self.config.poll_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                if time.monotonic() >= next_reload:
                    await self.reload()
                    next_reload = time.monotonic() + self.config.full_reload_interval
                else:
                    await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is unreachable: keep serving from the snapshot
                self._failed(exc)

    async def _listen(self) -> None:
        assert self.pubsub is not None
        while True:
            try:
                async with self.pubsub.subscribe(CHANNEL, buffer=BUFFER) as messages:
                    self._wake.set()  # anything published while we were not listening
                    async for _ in messages:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc)
            await asyncio.sleep(self.config.poll_interval)
