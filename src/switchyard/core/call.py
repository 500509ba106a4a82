"""Per-call context handed to providers and policies."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Attempt:
    """One failed try at one deployment, for the error that lists them all."""

    deployment: str
    status: int
    reason: str
    error: Any = None


@dataclass(slots=True)
class Call:
    """What one request carries down the chain besides its body.

    ``deadline`` is an absolute ``time.monotonic()`` instant or None; every layer
    that waits bounds its wait by it.
    """

    request_id: str
    deadline: float | None = None
    caller: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    attempts: list[Any] = field(default_factory=list)
    route: dict[str, str] = field(default_factory=dict)
    #: Headers any stage wants on the response (rate-limit state, route taken...).
    response_headers: dict[str, str] = field(default_factory=dict)
    #: The response headers the provider keeps (rate-limit state, request ids) from the
    #: last upstream answer of this call: set by the provider's driver when a unary
    #: answer arrives or a stream opens; None before any.
    upstream_headers: dict[str, str] | None = None
    #: ``await client_gone()`` returns when the client disconnects (set by the server);
    #: for a stage that makes a request wait, e.g. the admission queue.
    client_gone: Any = None

    def outgoing_headers(self) -> list[tuple[bytes, bytes]]:
        """Response headers: ``x-switchyard-<key>`` for the route, then the rest."""
        out = [(b"x-switchyard-" + k.encode(), v.encode("latin-1", "replace")) for k, v in self.route.items()]
        out.extend((k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in self.response_headers.items())
        return out

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when there is none."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()
