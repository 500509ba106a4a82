"""``Wake``: what a background writer sleeps on between batches — woken at once by ``set()``,
else after its interval.

``asyncio.wait_for(event.wait(), interval)`` does the same with a task, a second future and a
cancellation each time the interval passes; a writer that looks every 0.2 s pays that five
times a second, and its records pay for it. ``Wake.wait(timeout)`` is one future and one
timer handle.
"""

from __future__ import annotations

import asyncio


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Wake:
    """A flag with ``set``/``clear``/``is_set`` like ``asyncio.Event``; ``wait(timeout)`` returns once
    it is set or ``timeout`` seconds have passed (no ``TimeoutError``: a sleeper looks either way).
    One sleeper at a time: the task that owns the loop it wakes."""

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._flag = True
        waiter = self._waiter
        if waiter is not None:
            _release(waiter)

    def clear(self) -> None:
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    async def wait(self, timeout: float) -> None:
        if self._flag:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
