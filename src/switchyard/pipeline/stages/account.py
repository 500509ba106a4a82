"""account: what the answer cost, recorded on the call.

Sits right inside auth, so it sees every answer the caller gets — served by a
provider or, later, by the cache — and the failures too. Today it records the
usage on ``call.usage`` (read by the access log and the admin views); spend,
audit and metrics hang off the same place in later stages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from switchyard.core.call import Call
from switchyard.core.messages import Usage
from switchyard.core.settling import Settling
from switchyard.core.stage import Streaming, Unary


class Account:
    """Records the answer's usage on the call (a stream's when it ends)."""

    async def unary(self, call: Call, next: Unary) -> Any:
        answer = await next(call)
        call.usage = answer.usage
        return answer

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        async def record(usage: Usage | None) -> None:
            call.usage = usage

        return Settling(await next(call), record)
