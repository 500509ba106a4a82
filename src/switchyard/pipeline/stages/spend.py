"""spend: one spend record per request (``spend.records: true``).

Registers the spend log's settler on the call, so the record is written when
the answer is complete — with its usage, its cost (the pipeline prices it on
the way out), status and latency — whatever way the call ended. Placed right
after audit, before resolve and budgets: a request those refuse is recorded
too (status 4xx, cost 0), which is what a report of refusals needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from switchyard.core.call import Call
from switchyard.core.stage import Streaming, Unary
from switchyard.spend.log import SpendLog


class SpendRecords:
    """The request stage: has every call's spend recorded when it settles."""

    def __init__(self, spend: SpendLog) -> None:
        self.record = spend.record_call

    async def unary(self, call: Call, next: Unary) -> Any:
        call.on_settle(self.record)
        return await next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        call.on_settle(self.record)
        return await next(call)
