"""One keep-alive HTTP/1.1 connection to an upstream, as an asyncio Protocol.

A connection carries one exchange at a time. The ``httptools`` response parser
calls back into it as bytes arrive; the connection either buffers the whole
body (``request``) or hands body chunks to a streaming reader with
back-pressure (``stream``). It never decides about pooling itself: the pool
asks ``reusable`` once the exchange is over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httptools

from switchyard.core.errors import UpstreamProtocolError, UpstreamTimeout

# Above this many unread body bytes a streaming reader is too slow: stop reading
# the socket so the upstream (not our memory) holds the backlog.
_HIGH_WATER = 256 * 1024


class StaleConnection(Exception):
    """A reused connection was closed by the peer before any response byte arrived."""


class HttpConnection(asyncio.Protocol):
    """The protocol object behind one pooled TCP (or TLS) connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, label: str) -> None:
        self._loop = loop
        self.label = label
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.exchanges = 0
        self.idle_since = 0.0
        self._active = False
        self._streaming = False
        self._head = False
        self._fut: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._idle_until = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.exc: BaseException | None = None
        self._got_bytes = False
        self._headers_done = False
        self._framed = False
        self._informational = False
        self._paused = False
        self._drained: Callable[[HttpConnection], None] | None = None
        self._drain_left = 0
        #: Called with the reader's pending ``next_body`` future, instead of resolving it,
        #: when body bytes, the end or an error arrive (see ``listen``).
        self.listener: Callable[[asyncio.Future[Any]], None] | None = None

    # -- driven by the client ------------------------------------------------

    def send(self, payload: bytes, *, streaming: bool, head: bool = False) -> asyncio.Future[None]:
        """Write one request; the future resolves at headers (streaming) or at the end."""
        self._reset()
        self._active = True
        self._streaming = streaming
        self._head = head
        self.exchanges += 1
        fut = self._fut = self._loop.create_future()
        self.transport.write(payload)  # type: ignore[union-attr]
        return fut

    @property
    def reused(self) -> bool:
        """True when this connection already served an earlier exchange."""
        return self.exchanges > 1

    @property
    def reusable(self) -> bool:
        """Whether the finished exchange left the connection fit for another one."""
        return (
            self.complete
            and self.keep_alive
            and self.exc is None
            and not self.closed
            and not self.transport.is_closing()  # type: ignore[union-attr]
        )

    def listen(self, listener: Callable[[asyncio.Future[Any]], None]) -> None:
        """Have ``listener`` called with the pending ``next_body`` future when body bytes, the
        end or an error arrive, in the protocol callback itself: it reads them (``body``,
        ``complete``, ``exc``) and resolves the future, or leaves it pending (an unfinished
        event; a reader pushing chunks on until the end). The exchange's end forgets it."""
        self.listener = listener

    def extend_idle(self, idle_timeout: float | None) -> None:
        """Bytes arrived during a wait a listener keeps pending: the idle bound counts from
        now, as it would from a new ``next_body``."""
        if idle_timeout is not None:
            self._idle_until = self._loop.time() + idle_timeout

    def hold(self) -> None:
        """Stop reading the socket until the next ``next_body`` (the reader's consumer is full)."""
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def finish(self) -> None:
        """End the exchange from the client side (before release or close)."""
        self._active = False
        self._fut = None
        self._waiter = None
        self.listener = None
        self.body = []
        self._stop_idle()

    def drain(self, done: Callable[[HttpConnection], None], limit: int) -> None:
        """The reader is done before the end of the body: read the rest and drop it
        (at most ``limit`` bytes, past which the exchange fails), then ``done(self)``
        once the body ends or the exchange fails; the caller decides about reuse."""
        self.body = []
        self.buffered = 0
        self._waiter = None
        self.listener = None
        self._stop_idle()
        self._drain_left = limit
        if self.complete or self.exc is not None:
            done(self)
            return
        self._drained = done
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def fail(self, exc: BaseException) -> None:
        """Abort the current exchange with ``exc`` and close the connection."""
        self._fail(exc)
        self.close()

    def timeout(self, message: str) -> None:
        """Timer callback: the exchange took too long."""
        if self._active:
            self.fail(UpstreamTimeout(message))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def next_body(self, idle_timeout: float | None) -> asyncio.Future[None]:
        """What to await until more body, the end, or an error is available (the future
        itself: no coroutine frame per wait)."""
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        waiter = self._waiter = self._loop.create_future()
        if idle_timeout is not None:
            # One timer per exchange, not one per wait: a wait only moves the end it
            # checks against, and the timer re-arms itself when it fires early.
            self._idle_until = self._loop.time() + idle_timeout
            if self._idle is None:
                self._idle = self._loop.call_at(self._idle_until, self._check_idle, idle_timeout)
        return waiter

    def _check_idle(self, idle_timeout: float) -> None:
        self._idle = None
        waiter = self._waiter
        if not self._active or waiter is None or waiter.done():
            return  # no wait in progress: the next one arms the timer again
        if self._loop.time() + 0.001 >= self._idle_until:  # timers may fire a hair early
            self.fail(UpstreamTimeout(f"no data from {self.label} for {idle_timeout:g}s"))
        else:
            self._idle = self._loop.call_at(self._idle_until, self._check_idle, idle_timeout)

    def _stop_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _fail(self, exc: BaseException) -> None:
        if self.exc is None:
            self.exc = exc
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_exception(exc)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self.listener is not None:
                self.listener(waiter)
            else:
                waiter.set_result(None)
        elif self._drained is not None and (self.complete or self.exc is not None):
            done, self._drained = self._drained, None
            done(self)

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self._active or self.exc is not None:
            # Bytes nobody asked for: the connection's framing can't be trusted.
            self.close()
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(UpstreamProtocolError(f"malformed HTTP response from {self.label}: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._active or self.complete or self.exc is not None:
            return
        if self._headers_done and not self._framed and not self._head:
            self.on_message_complete()  # body delimited by the close itself
        elif not self._got_bytes and self.reused:
            self._fail(StaleConnection())
        elif not self._got_bytes:
            self._fail(UpstreamProtocolError(f"{self.label} closed the connection without a response"))
        else:
            self._fail(UpstreamProtocolError(f"{self.label} closed the connection mid-response"))

    # -- httptools callbacks -------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        n = len(name)
        if (n == 14 or n == 17) and name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            self._informational = True
            self.raw_headers = []
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        self._headers_done = True
        if status in (204, 304):
            self._framed = True
        if self._head:
            # A HEAD answer has no body but may announce one; the parser can't
            # know that, so finish here and never reuse the connection.
            self.keep_alive = False
            self.on_message_complete()
            return
        if self._streaming:
            fut = self._fut
            if fut is not None and not fut.done():
                fut.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._drained is not None:
            self._drain_left -= len(body)
            if self._drain_left < 0:
                self.fail(UpstreamProtocolError(f"{self.label} sent too much after the end of a stream"))
            return
        self.body.append(body)
        if self._streaming:
            self.buffered += len(body)
            if self.buffered > _HIGH_WATER and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            waiter = self._waiter  # ``_wake`` written out: the per-chunk path
            if waiter is not None and not waiter.done():
                if self.listener is not None:
                    self.listener(waiter)
                else:
                    waiter.set_result(None)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self.complete:
            return
        self.complete = True
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)
        self._wake()

