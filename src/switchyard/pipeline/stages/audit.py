"""audit: every call recorded in the audit log (``audit.requests: true``).

Registers the audit log's settler on the call, so the record is written when
the answer is complete — with its status, usage and, when bodies are kept,
the sealed request — whatever way the call ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from switchyard.audit.log import AuditLog
from switchyard.core.call import Call
from switchyard.core.stage import Streaming, Unary


class AuditRequests:
    """The request stage: has every call recorded in the audit log when it settles."""

    def __init__(self, audit: AuditLog) -> None:
        self.record = audit.record_call

    async def unary(self, call: Call, next: Unary) -> Any:
        call.on_settle(self.record)
        return await next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        call.on_settle(self.record)
        return await next(call)
