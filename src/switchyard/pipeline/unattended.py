"""Calls whose caller left before the answer, finished unattended so the answer is charged.

An upstream that was asked bills its answer whether or not anyone is still waiting for
it. So a unary call is not cut short when its caller goes away: it runs to its end, the
pipeline prices the answer, and its settlers — the budget's settle, the spend record —
charge what the upstream billed (a call still queued, or one that fails, costs nothing,
as always).

Over HTTP nothing more is needed: the server never cancels a handler whose client
disconnected. An in-process caller (``AsyncClient``) leaves by being cancelled (a
``wait_for``, a task group that gives up); ``Unattended.run`` keeps the call going in a
task of its own while the caller's cancellation goes on. Only gateways that charge calls
(budgets or spend records) pay for that task.

Bounded: at most ``limit`` calls finish unattended at once; past that a leaving caller
takes its call with it (cancelled, its reservation released, as a failed call's). Closing
waits ``grace`` seconds for them (the deadline bounds each anyway), then cancels the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger("switchyard.pipeline")

T = TypeVar("T")


class Unattended:
    """Runs unary calls so that one whose caller is cancelled still finishes (see the module docstring)."""

    def __init__(self, limit: int = 10_000, grace: float = 5.0) -> None:
        self.limit = limit
        self.grace = grace
        self.running: set[asyncio.Future[Any]] = set()
        #: Calls cancelled with their caller because ``limit`` were finishing already.
        self.dropped = 0

    async def run(self, call: Awaitable[T]) -> T:
        task: asyncio.Future[T] = asyncio.ensure_future(call)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                self._keep(task)
            raise

    def _keep(self, task: asyncio.Future[Any]) -> None:
        if len(self.running) >= self.limit:
            self.dropped += 1
            task.cancel()
            return
        self.running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its settlers have recorded how it failed

    async def aclose(self) -> None:
        """Wait up to ``grace`` seconds for the calls still finishing, then cancel the rest."""
        if not self.running:
            return
        waiting = list(self.running)
        _, late = await asyncio.wait(waiting, timeout=self.grace)
        for task in late:
            task.cancel()
        if late:
            log.warning("unattended_calls_cancelled", extra={"calls": len(late)})
            await asyncio.gather(*late, return_exceptions=True)
