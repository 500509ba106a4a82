"""Timeouts: the request's total deadline, and each attempt's bounds.

Which bound applies where:

    connect                   the deployment's ``timeouts.connect``: the adapter
                              passes it with every request; the transport bounds
                              dialing a new connection by it
    per attempt               the adapter hands ``min(timeouts.request, time left)``
                              to the transport, which bounds pool wait, connect,
                              send and (non-streamed) the whole answer
    total                     ``Call.deadline``: set once per request by
                              ``deadline_for`` from ``reliability.timeouts.total``
                              and the client's ``x-switchyard-timeout`` header;
                              retries and fallbacks never wait past it; a
                              stream's whole body is bounded by it too (the
                              adapter passes ``total_timeout`` to the transport:
                              one timer per stream aborts the read, and the
                              client gets an error event, never a silent cut)
    first token (streams)     ``TimeoutPolicy``: from sending the request to the
                              first chunk, also bounded by the deadline; a wait
                              for a free connection of the gateway's own pool
                              (``connections.wait``) does not count, the clock
                              stops meanwhile (``call.on_pool_wait``)
    idle (streams)            the transport's ``aiter_bytes(idle_timeout=)`` between
                              pieces (``timeouts.idle`` of the deployment, defaulted
                              from ``reliability.timeouts.idle``)

The header follows the convention of other gateways (LiteLLM's
``x-litellm-timeout``, Portkey's ``x-portkey-request-timeout``): seconds as a
number, e.g. ``x-switchyard-timeout: 2.5``; ``x-switchyard-timeout-ms`` takes
milliseconds. A client can shorten the deadline, never lengthen it past
``max_client_timeout``.

No task and no ``wait_for`` per chunk: the first-token bound is one
``asyncio.timeout`` scope per streamed attempt, the idle bound one timer handle
per read in the transport, the total deadline one timer handle per stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config.reliability import TimeoutDefaults
from switchyard.core.errors import InvalidRequest, UpstreamTimeout
from switchyard.core.stage import Streaming, Unary
from switchyard.policies.primed import Primed, StreamFailed

TIMEOUT_HEADER = "x-switchyard-timeout"
TIMEOUT_MS_HEADER = "x-switchyard-timeout-ms"


def client_timeout(headers: dict[str, str]) -> float | None:
    """Seconds the client asked for in its headers, or None; InvalidRequest names the header."""
    for name, scale in ((TIMEOUT_HEADER, 1.0), (TIMEOUT_MS_HEADER, 0.001)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = -1.0
        if not seconds > 0 or seconds == float("inf"):
            raise InvalidRequest(f"Header {name} must be a positive number of "
                                 f"{'seconds' if scale == 1.0 else 'milliseconds'}.", param=name,
                                 code="invalid_timeout")
        return seconds
    return None


def apply_deadline(call: Call, defaults: TimeoutDefaults) -> None:
    """Set ``call.deadline`` from the config and the client's header (the shortest wins)."""
    budget = defaults.total
    asked = client_timeout(call.headers) if call.headers else None
    if asked is not None:
        asked = min(asked, defaults.max_client_timeout)
        budget = asked if budget is None else min(budget, asked)
    if budget is None:
        return
    deadline = time.monotonic() + budget
    if call.deadline is None or deadline < call.deadline:
        call.deadline = deadline


class TimeoutPolicy:
    """Bounds each attempt: fails fast once the deadline has passed, and bounds a
    stream's time to first chunk by ``first_token`` and the deadline. The stream
    it hands back is ``Primed``: its first chunk is read here, once."""

    def __init__(self, deployment_id: str, first_token: float | None,
                 stream_failed: StreamFailed | None = None) -> None:
        self.deployment_id = deployment_id
        self.first_token = first_token
        #: Handed to each ``Primed`` stream: what an error after the first chunk goes through.
        self.stream_failed = stream_failed

    def _expired(self) -> UpstreamTimeout:
        return UpstreamTimeout(f"The request deadline passed before {self.deployment_id} answered.")

    def unary(self, call: Call, next: Unary) -> Awaitable[Any]:
        # A plain function handing on next's awaitable: no frame of its own per call.
        deadline = call.deadline
        if deadline is not None and deadline <= time.monotonic():
            raise self._expired()
        return next(call)

    async def stream(self, call: Call, next: Streaming) -> Primed:
        limit = self.first_token
        deadline = call.deadline
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._expired()
            if limit is None or remaining < limit:
                limit = remaining
        if limit is None:
            return await Primed.open(await next(call), self.stream_failed)
        chunks = None
        try:
            async with asyncio.timeout(limit) as scope:
                call.on_pool_wait = _StoppedClock(scope, call)
                chunks = await next(call)
                return await Primed.open(chunks, self.stream_failed)
        except TimeoutError:
            if chunks is not None:
                await chunks.aclose()  # type: ignore[attr-defined]
            raise UpstreamTimeout(
                f"{self.deployment_id} sent no first token within {limit:.3g}s.", code="first_token_timeout"
            ) from None
        finally:
            call.on_pool_wait = None


class _StoppedClock:
    """``call.on_pool_wait`` for one streamed attempt: stops the first-token clock
    (``scope``) while the request waits for a free connection of the gateway's own
    pool, and moves its end by as long as the wait took, never past the deadline."""

    __slots__ = ("scope", "call", "_stopped_at", "_when")

    def __init__(self, scope: asyncio.Timeout, call: Call) -> None:
        self.scope = scope
        self.call = call
        self._stopped_at: float | None = None
        self._when: float | None = None

    def __call__(self, waiting: bool) -> None:
        scope = self.scope
        if scope.expired():
            return
        now = asyncio.get_running_loop().time()
        if waiting:
            if self._stopped_at is None:
                self._stopped_at, self._when = now, scope.when()
                scope.reschedule(None)
            return
        if self._stopped_at is None or self._when is None:
            return
        when = self._when + (now - self._stopped_at)
        self._stopped_at = None
        remaining = self.call.remaining()
        if remaining is not None:
            when = min(when, now + max(0.0, remaining))
        scope.reschedule(when)
