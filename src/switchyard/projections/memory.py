"""The usage read model of a gateway without a database (``storage.url: memory://``).

The same projection as ``usage_view.py`` kept in this process: a projector task folds the
spend records the in-memory spend store took since it last looked (it numbers them) into
per-minute sums, and ``GET /admin/spend`` reads those. At most ``capacity`` sums are kept, the
oldest minutes dropped first — like the records themselves, memory is bounded.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from switchyard.projections.usage_view import SUMS, fold, window
from switchyard.spend.record import GROUPS
from switchyard.spend.report import Rollup, SpendQuery, ordered, total
from switchyard.storage.wake import Wake

NAME = "usage"


class MemoryUsageView:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.rows: OrderedDict[tuple[int, str], dict[str, Any]] = OrderedDict()

    def apply(self, records: list[Any]) -> None:
        for key, row in fold(records).items():
            held = self.rows.get(key)
            if held is None:
                self.rows[key] = row
            else:
                for name in SUMS:
                    held[name] += row[name]
        while len(self.rows) > self.capacity:
            self.rows.popitem(last=False)

    async def report(self, query: SpendQuery) -> tuple[list[Rollup], Rollup]:
        low, high = window(query.since, query.until)
        every = query.interval
        field = GROUPS.get(query.group_by, "bucket")
        groups: dict[Any, Rollup] = {}
        for row in self.rows.values():
            if (low is not None and row["bucket"] < low) or (high is not None and row["bucket"] >= high):
                continue
            if any(row[name] != value for name, value in query.only):
                continue
            value = row[field] if every is None else row["bucket"] // every * every
            group = groups.get(value)
            if group is None:
                group = groups[value] = Rollup(value)
            for name in SUMS:
                setattr(group, name, getattr(group, name) + row[name])
        return ordered(groups.values(), query.limit, every is not None), total(groups.values())


class MemoryProjector:
    """Folds the memory spend store's new records into the view (see the module docstring)."""

    def __init__(self, store: Any, view: MemoryUsageView, *, interval: float = 0.5) -> None:
        self.store = store
        self.view = view
        self.interval = interval
        self.position = 0
        self._wake = Wake()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="projector")

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self.catch_up()
            self._wake.clear()
            await self._wake.wait(self.interval)

    async def catch_up(self) -> int:
        records, self.position = self.store.since(self.position)
        self.view.apply(records)
        return len(records)

    async def sync(self, timeout: float | None = None) -> None:
        await self.catch_up()

    def lag(self) -> dict[str, tuple[float, int]]:
        behind = self.store.appended - self.position
        return {NAME: (0.0, behind)}

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
