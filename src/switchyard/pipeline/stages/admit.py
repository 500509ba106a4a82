"""admit: limits, reservations and the priority queue (``switchyard.admission``).

Before the call: ``Admission.admit`` may make the request wait in its queue or
refuse it (429, Retry-After) and returns a ``Ticket`` holding the reservation.
After it: the ticket is settled exactly once with the real usage (None after
a failure, which refunds the reservation). A stream shows the ticket every
chunk, so a hard limit can end it mid-way, and settles when it ends.

Only in the pipeline when limits are configured (or virtual keys, which bring their
own, are on): with none, it is not there at all. A request no limit applies to gets
the null ticket and its answer passes through unwrapped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from switchyard.admission.ticket import NULL_TICKET, Admission
from switchyard.core.call import Call
from switchyard.core.messages import Chunk
from switchyard.core.settling import Settling
from switchyard.core.stage import Streaming, Unary


class Admit:
    """Admission around everything after it."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    async def unary(self, call: Call, next: Unary) -> Any:
        ticket = await self.admission.admit(call.request, call.group, call)
        if ticket is NULL_TICKET:  # no limit applies to this request: nothing to settle
            return await next(call)
        try:
            answer = await next(call)
        except BaseException:
            await ticket.settle(None)
            raise
        await ticket.settle(answer.usage)
        return answer

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Chunk]:
        ticket = await self.admission.admit(call.request, call.group, call)
        if ticket is NULL_TICKET:  # nothing to watch or settle: the stream is not wrapped
            return await next(call)
        try:
            chunks = await next(call)
        except BaseException:
            await ticket.settle(None)
            raise
        return Settling(chunks, ticket.settle, ticket.observe)
