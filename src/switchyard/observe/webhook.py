"""Alerts on their way out: a bounded queue, one task, and a webhook POST with retries.

The owners (SLO alerts, budget alerts) decide *what* to raise and *when*; this only
carries it. ``put`` never waits: a full queue drops the item and counts it (the request
path is never held up by a slow webhook). One task hands each item to the owner's
``handle``; ``post`` sends a JSON body to a webhook — three tries, 0.2 s then 0.8 s
apart — and counts what was delivered and what was given up on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson

TRIES = 3
Item = TypeVar("Item")


class WebhookQueue(Generic[Item]):
    """Items go in (``put``), one task handles them in turn (``start``/``aclose``)."""

    def __init__(self, http: Any, handle: Callable[[Item], Awaitable[None]], *, name: str, log: logging.Logger,
                 timeout: float = 5.0, capacity: int = 1000) -> None:
        self.http = http
        self.handle = handle
        self.name = name
        self.log = log
        self.timeout = timeout
        self._queue: asyncio.Queue[Item] = asyncio.Queue(capacity)
        self._task: asyncio.Task[None] | None = None
        #: Webhooks answered 2xx, items dropped (full queue), webhooks given up on.
        self.delivered = 0
        self.dropped = 0
        self.failed = 0

    def put(self, item: Item) -> bool:
        """Queue ``item``; False when the queue is full (dropped, counted)."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self.handle(item)
            except Exception:
                self.log.exception(f"{self.name}_error")
            finally:
                self._queue.task_done()

    async def post(self, url: str, payload: dict[str, Any]) -> int | str | None:
        """POST ``payload`` as JSON, up to three tries; None when delivered, else the last status
        (or the exception's name) — the owner logs the failure in its own words."""
        body = orjson.dumps(payload)
        delay = 0.2
        status: int | str = ""
        for attempt in range(TRIES):
            try:
                response = await self.http.request("POST", url, body=body, timeout=self.timeout,
                                                   headers={"content-type": "application/json"})
                status = int(response.status)
                if 200 <= status < 300:
                    self.delivered += 1
                    return None
            except Exception as exc:
                status = type(exc).__name__
            if attempt + 1 < TRIES:
                await asyncio.sleep(delay)
                delay *= 4
        self.failed += 1
        return status

    async def flushed(self) -> None:
        """Returns once every item put so far was handled."""
        await self._queue.join()

    async def aclose(self, drain_timeout: float = 5.0) -> None:
        """Handle what was put (within ``drain_timeout``), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_timeout)
        except TimeoutError:
            self.log.warning(f"{self.name}_unsent", extra={"alerts": self._queue.qsize()})
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
