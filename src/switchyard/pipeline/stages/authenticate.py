"""auth: who is calling.

The HTTP server authenticates every route before it reads a body (a 401 costs
no upload), so its calls arrive with ``call.caller`` set. Any other caller of
the pipeline (the in-process ``Client`` given an ``api_key``) is authenticated
here from the call's ``authorization`` / ``x-api-key`` headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from switchyard.auth import Authenticator
from switchyard.core.call import Call
from switchyard.core.stage import Streaming, Unary


class Authenticate:
    """Sets ``call.caller`` from the call's credentials when nobody has yet."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def _identify(self, call: Call) -> None:
        if call.caller is None:
            headers = call.headers
            call.caller = self.auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))

    async def unary(self, call: Call, next: Unary) -> Any:
        self._identify(call)
        return await next(call)

    async def stream(self, call: Call, next: Streaming) -> AsyncIterator[Any]:
        self._identify(call)
        return await next(call)
