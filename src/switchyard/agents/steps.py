"""How a run's steps are run: ``step`` (a model call, a tool call) and ``wait`` (for a
person's approval, or any outside event).

``StepRunner`` is the protocol a durable engine implements: a step's result is journaled
under its name, so a run restarted after a crash gets the recorded result instead of
calling again, and a wait survives the process. ``InProcessSteps`` is the embedded
default and says so: it is **not durable** (``durable`` is False) — steps run once in
this process, waits are futures in memory, and a crash loses the run.

Step names are unique within a run (``<run id>/<turn>/model``, ``<run id>/<turn>/tool/<call id>``);
results are JSON-ready values, so a journal can keep them.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


class TooManyWaits(RuntimeError):
    """More waits (or early signals) are pending than the runner holds."""


@runtime_checkable
class StepRunner(Protocol):
    """Runs a run's steps; a durable one journals them (see the module's docstring)."""

    #: Whether a step's result and a wait outlive this process.
    durable: bool

    async def step(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()``'s result, or the one journaled under ``name`` by an earlier attempt of the run."""
        ...

    async def wait(self, key: str, timeout: float | None = None) -> Any:
        """The payload ``signal(key, ...)`` sends; ``TimeoutError`` after ``timeout`` seconds."""
        ...

    async def signal(self, key: str, payload: Any) -> None:
        """Send ``payload`` to whoever waits (or will wait) on ``key``."""
        ...


class InProcessSteps:
    """Steps run directly, waits in memory: not durable. At most ``max_pending`` waits and
    early signals are held (``TooManyWaits`` beyond), so a flood cannot grow it."""

    durable = False

    def __init__(self, *, max_pending: int = 1024) -> None:
        if max_pending < 1:
            raise ValueError("max_pending: must be at least 1")
        self.max_pending = max_pending
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._early: OrderedDict[str, Any] = OrderedDict()

    async def step(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await fn()

    async def wait(self, key: str, timeout: float | None = None) -> Any:
        if key in self._early:
            return self._early.pop(key)
        if key in self._waiting:
            raise RuntimeError(f"wait {key!r}: already waited on")
        if len(self._waiting) >= self.max_pending:
            raise TooManyWaits(f"wait {key!r}: {self.max_pending} waits are pending already")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._waiting.pop(key, None)

    async def signal(self, key: str, payload: Any) -> None:
        future = self._waiting.get(key)
        if future is not None:
            if not future.done():
                future.set_result(payload)
            return
        if key not in self._early and len(self._early) >= self.max_pending:
            raise TooManyWaits(f"signal {key!r}: {self.max_pending} signals wait for their waiter already")
        self._early[key] = payload

    def pending(self) -> list[str]:
        """The keys waited on now."""
        return list(self._waiting)
