"""A stage that only needs to hear each call's end: audit records, spend records.

``OnSettle(settle)`` registers ``settle`` on every call (``Call.on_settle``), so
the pipeline runs it once the answer is complete — with its usage, its cost
(priced on the way out), status and latency — whatever way the call ended.
Where it sits in ``order.py`` decides which refusals it still hears: placed
before resolve and budgets, a request those refuse is recorded too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from switchyard.core.call import Call
from switchyard.core.stage import Streaming, Unary


class OnSettle:
    """Has ``settle(call)`` run when each call is complete."""

    def __init__(self, settle: Callable[[Call], Awaitable[None] | None]) -> None:
        self.settle = settle

    # Plain functions: registering the settler needs no frame of this stage's own.
    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        call.on_settle(self.settle)
        return next(call)

    def stream(self, call: Call, next: Streaming) -> Awaitable[AsyncIterator[Any]]:
        call.on_settle(self.settle)
        return next(call)
