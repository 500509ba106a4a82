"""A bounded keep-alive pool of connections to one origin (scheme, host, port)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from switchyard.core.errors import ConnectionPoolFull, UpstreamConnectError
from switchyard.transport.connection import HttpConnection
from switchyard.transport.dial import Dialer

#: How long, and how many bytes, the rest of a body may take once its reader is done
#: with it (a stream whose last event came before the end of the chunked body): the
#: connection is pooled when the body ends within both, closed otherwise.
DRAIN_SECONDS = 1.0
DRAIN_BYTES = 64 * 1024

#: Told ``True`` when a request starts waiting for a free connection, ``False`` when it stops.
WaitListener = Callable[[bool], None]


class OriginPool:
    """At most ``max_connections`` open connections to one origin.

    Idle connections are reused last-in first-out (the most recently used one is
    the least likely to have been closed by the server). When every connection
    is busy, ``acquire`` waits in line, at most ``pool_timeout`` seconds (then
    ``ConnectionPoolFull``: the gateway's own limit, not the upstream's fault); a
    released connection is handed straight to the first waiter, and a closed one
    frees a slot for the waiter to dial.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        dialer: Dialer,
        max_connections: int,
        pool_timeout: float | None,
        connect_timeout: float,
        keepalive_expiry: float,
    ) -> None:
        self._loop = loop
        self.label = dialer.label
        self._dialer = dialer
        self._max = max_connections
        self._pool_timeout = pool_timeout
        self._connect_timeout = connect_timeout
        self._expiry = keepalive_expiry
        self._idle: list[HttpConnection] = []
        self._waiters: deque[asyncio.Future[HttpConnection | None]] = deque()
        self._in_use: set[HttpConnection] = set()
        self._count = 0
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections open or being opened (idle and in use)."""
        return self._count

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def acquire(
        self, total_deadline: float | None, *, fresh: bool = False, on_wait: WaitListener | None = None
    ) -> HttpConnection | None:
        """A connection ready for one exchange, or ``None``: a slot is reserved for
        the caller, who must ``dial`` next (it gives the slot back if dialing fails).

        When every connection is busy this waits in line until ``pool_timeout`` or
        ``total_deadline``, whichever comes first, then raises ``ConnectionPoolFull``;
        ``on_wait`` hears when such a wait starts and ends."""
        while True:
            conn = self._take_idle(fresh)
            if conn is not None:
                self._in_use.add(conn)
                return conn
            if self._closed:
                raise RuntimeError("the HTTP client is closed")
            if self._count < self._max:
                self._count += 1
                return None
            if on_wait is None:
                conn = await self._wait(total_deadline)
            else:
                on_wait(True)
                try:
                    conn = await self._wait(total_deadline)
                finally:
                    on_wait(False)
            if conn is not None:
                self._in_use.add(conn)
                return conn

    async def dial(self, deadline: float | None, connect_timeout: float | None = None) -> HttpConnection:
        """A new connection in the slot ``acquire`` reserved, bounded by ``deadline``
        and ``connect_timeout`` (default: the pool's)."""
        try:
            conn = await self._connect(deadline, connect_timeout)
        except BaseException:
            self._count -= 1
            self._wake_one()
            raise
        self._in_use.add(conn)
        return conn

    def release(self, conn: HttpConnection) -> None:
        """Give back a connection after an exchange; reuse it if it is fit."""
        self._in_use.discard(conn)
        conn.finish()
        if not conn.reusable or self._closed:
            self._drop(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use.add(conn)
                waiter.set_result(conn)
                return
        conn.idle_since = self._loop.time()
        self._idle.append(conn)
        oldest = self._idle[0]
        if conn.idle_since - oldest.idle_since > self._expiry:
            self._idle.pop(0)
            self._drop(oldest)

    def drain(self, conn: HttpConnection) -> None:
        """Take back a connection whose reader is done before the end of the body
        (a stream's last event came before the chunked terminator): the rest is read
        and dropped in the background, then the connection is pooled; it is closed
        instead when the rest takes over ``DRAIN_SECONDS`` or ``DRAIN_BYTES``."""
        if not conn.keep_alive or conn.exc is not None or conn.closed or self._closed:
            self.discard(conn)
            return
        handle = self._loop.call_later(
            DRAIN_SECONDS, conn.timeout, f"{self.label} did not end a finished body within {DRAIN_SECONDS:g}s"
        )

        def drained(done: HttpConnection) -> None:
            handle.cancel()
            self.release(done)

        conn.drain(drained, DRAIN_BYTES)

    def discard(self, conn: HttpConnection) -> None:
        """Close a connection whose exchange did not end cleanly."""
        self._in_use.discard(conn)
        conn.finish()
        self._drop(conn)

    def close(self) -> None:
        """Close every connection and fail every waiter."""
        self._closed = True
        for conn in self._idle + list(self._in_use):
            conn.fail(UpstreamConnectError(f"the HTTP client was closed during a request to {self.label}"))
        self._idle.clear()
        self._in_use.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("the HTTP client is closed"))

    def _take_idle(self, fresh: bool) -> HttpConnection | None:
        idle = self._idle
        now = self._loop.time() if idle else 0.0
        while idle:
            conn = idle.pop()
            if fresh or conn.closed or conn.transport.is_closing() or now - conn.idle_since > self._expiry:  # type: ignore[union-attr]
                self._drop(conn)
                continue
            return conn
        return None

    def _drop(self, conn: HttpConnection) -> None:
        conn.close()
        self._count -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _wait(self, total_deadline: float | None) -> HttpConnection | None:
        waiter: asyncio.Future[HttpConnection | None] = self._loop.create_future()
        self._waiters.append(waiter)
        until = total_deadline
        if self._pool_timeout is not None:
            until = self._loop.time() + self._pool_timeout if until is None else min(
                until, self._loop.time() + self._pool_timeout)
        handle = None
        if until is not None:
            handle = self._loop.call_at(until, _expire, waiter, self._full(until - self._loop.time()))
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is not None:
                    self._in_use.add(handed)
                    self.release(handed)
                else:
                    self._wake_one()
            raise
        finally:
            if handle is not None:
                handle.cancel()

    def _full(self, waited: float) -> str:
        return (f"No connection to {self.label} came free within {max(0.0, waited):.3g}s: all {self._max} "
                f"the gateway may open are busy. Try again shortly.")

    async def _connect(self, deadline: float | None, connect_timeout: float | None = None) -> HttpConnection:
        timeout = connect_timeout or self._connect_timeout
        if deadline is not None:
            timeout = min(timeout, deadline - self._loop.time())
        return await self._dialer.open(self._loop, lambda: HttpConnection(self._loop, self.label), timeout)


def _expire(waiter: asyncio.Future[HttpConnection | None], message: str) -> None:
    if not waiter.done():
        waiter.set_exception(ConnectionPoolFull(message, retry_after=1.0))
