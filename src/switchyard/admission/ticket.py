"""The admission hook of the pipeline: what runs before routing and after the answer.

An ``Admission`` decides whether a request may go upstream now (it may wait in
a queue, or be refused with 429) and returns a ``Ticket``; the pipeline shows
the ticket every streamed chunk (so a hard limit can end a stream mid-way) and
settles it exactly once with the real usage (None when the call failed, which
refunds the whole reservation).
"""

from __future__ import annotations

from typing import Any, Protocol

from switchyard.core.call import Call
from switchyard.core.messages import Chunk, Usage


class Ticket(Protocol):
    def observe(self, chunk: Chunk) -> None:
        """Called for every chunk sent to the client; may raise to end the stream."""

    async def settle(self, usage: Usage | None) -> None:
        """Called once, after the answer (or the failure)."""


class Admission(Protocol):
    def applies(self, request: Any, group: Any, call: Call) -> Any:
        """What would hold the request (its limits, or a queue); None when nothing
        does, so the pipeline passes it through without a ticket (no await, no frame)."""

    async def admit(self, request: Any, group: Any, call: Call, applies: Any = None) -> Ticket:
        """The ticket; ``applies`` is what ``applies()`` returned, when the caller asked first."""


class _NullTicket:
    __slots__ = ()

    def observe(self, chunk: Chunk) -> None:
        return None

    async def settle(self, usage: Usage | None) -> None:
        return None


NULL_TICKET = _NullTicket()


class OpenAdmission:
    """Admits everything; the default until limits are configured."""

    def applies(self, request: Any, group: Any, call: Call) -> Any:
        return None

    async def admit(self, request: Any, group: Any, call: Call, applies: Any = None) -> Ticket:
        return NULL_TICKET
