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

from collections.abc import AsyncIterator, Awaitable
from typing import Any

from switchyard.admission.ticket import NULL_TICKET, Admission
from switchyard.core.call import Call
from switchyard.core.messages import Chunk
from switchyard.core.settling import Settling
from switchyard.core.stage import Streaming, Unary


class Admit:
    """Admission around everything after it.

    ``unary``/``stream`` are plain functions: a request nothing holds (no limit applies,
    no queue) is handed straight on — the rest of the chain's awaitable returned as it
    is, with no frame of this stage's own — and only one that is held gets ``_held``."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        applies = self.admission.applies(call.request, call.group, call)
        if applies is None:
            return next(call)
        return self._held_unary(call, next, applies)

    def stream(self, call: Call, next: Streaming) -> Awaitable[AsyncIterator[Chunk]]:
        applies = self.admission.applies(call.request, call.group, call)
        if applies is None:
            return next(call)
        return self._held_stream(call, next, applies)

    async def _held_unary(self, call: Call, next: Unary, applies: Any) -> Any:
        ticket = await self.admission.admit(call.request, call.group, call, applies)
        if ticket is NULL_TICKET:  # no limit applies to this request: nothing to settle
            return await next(call)
        try:
            answer = await next(call)
        except BaseException:
            await ticket.settle(None)
            raise
        await ticket.settle(answer.usage)
        return answer

    async def _held_stream(self, call: Call, next: Streaming, applies: Any) -> AsyncIterator[Chunk]:
        ticket = await self.admission.admit(call.request, call.group, call, applies)
        if ticket is NULL_TICKET:  # nothing to watch or settle: the stream is not wrapped
            return await next(call)
        try:
            chunks = await next(call)
        except BaseException:
            await ticket.settle(None)
            raise
        return Settling(chunks, ticket.settle, ticket.observe)
