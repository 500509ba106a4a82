"""One answer in the making, shared by every request that waits for it: fan-out.

A ``Flight`` is made by the first of identical requests (its *owner*, whose
call goes upstream) and joined by the others while it is in flight. A unary
flight is a future; a stream flight is a task that reads the upstream stream
into a buffer, and a ``Reader`` per client reading from that buffer at its own
pace::

    upstream chunks -> Flight.pieces (bounded by bytes, from the first chunk)
                          ├── Reader (the owner)       -> its client
                          ├── Reader (a coalesced one) -> its client
                          └── Reader (GET /v1/streams/{id})

The task never waits for a reader, so a slow one stalls nobody: the buffer
keeps the stream from its first chunk until it holds ``limit`` bytes, then
drops from the front; a reader whose next chunk was dropped (it fell that far
behind, or joined that late) ends with ``SubscriberTooSlow`` as its last event.

The upstream call belongs to no one client: the owner leaving does not cancel
it while others read (the owner's request then waits for the end, so the usage
and cost of the one upstream call are recorded on it, exactly once); when the
last reader leaves, the call is cancelled. An upstream failure reaches every
reader as the same error (each its own copy).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from switchyard.cache.entry import Piece, chunk_of, piece_calls_tools, piece_of, usage_of
from switchyard.core.call import Call
from switchyard.core.errors import SubscriberTooSlow, SwitchyardError, UpstreamTimeout
from switchyard.core.messages import Chunk, Usage

#: Opens the upstream stream (the rest of the chain, or another replica's relay).
Source = Callable[["StreamFlight"], Awaitable[AsyncIterator[Chunk]]]


def copied(error: BaseException) -> BaseException:
    """Each waiter raises its own copy of a shared failure (its headers are its own)."""
    if isinstance(error, SwitchyardError):
        mine = copy.copy(error)
        mine.headers = dict(error.headers)
        return mine
    if isinstance(error, asyncio.CancelledError):
        return SwitchyardError("The shared upstream call was cancelled.")
    return error


class UnaryFlight:
    """A unary answer in flight: its owner resolves it, the others await it (the future is made
    only when someone waits: most flights have nobody waiting)."""

    # Class defaults and no ``__init__``: made for every miss, waited on by few.
    future: asyncio.Future[Any] | None = None
    cost = 0.0
    abandoned = False
    done = False
    _answer: Any = None
    _error: BaseException | None = None

    def resolve(self, answer: Any, cost: float) -> None:
        self.cost, self._answer, self.done = cost, answer, True
        if self.future is not None and not self.future.done():
            self.future.set_result(answer)

    def fail(self, error: BaseException) -> None:
        self._error, self.done = error, True
        if self.future is not None and not self.future.done():
            self.future.set_exception(error)
            self.future.exception()  # retrieved

    def abandon(self) -> None:
        """The owner was cancelled before an answer: waiters go again on their own."""
        self.abandoned = self.done = True
        if self.future is not None and not self.future.done():
            self.future.set_result(None)

    async def wait(self, call: Call) -> Any:
        """The answer (None when abandoned), within the waiter's own deadline."""
        if not self.done:
            if self.future is None:
                self.future = asyncio.get_running_loop().create_future()
            remaining = call.remaining()
            try:
                if remaining is None:
                    await asyncio.shield(self.future)
                else:
                    await asyncio.wait_for(asyncio.shield(self.future), max(remaining, 0.0))
            except TimeoutError:
                raise UpstreamTimeout("The request's deadline passed while it waited for an identical "
                                      "request's answer.") from None
            except SwitchyardError:
                pass
        if self._error is not None:
            raise copied(self._error)
        return None if self.abandoned else self._answer


class StreamFlight:
    """A stream in flight and its buffer (see the module docstring)."""

    def __init__(self, limit: int, owner: Call | None, *, surface: str = "openai", model: str = "") -> None:
        self.limit = limit
        #: The call whose request goes upstream here (None: another replica makes the call).
        self.owner = owner
        #: How a joiner is shown the stream: the surface it was asked on, and the model asked for.
        self.surface = surface
        self.model = model
        #: ``(tenant, request id)`` under which it can be joined (``Flights.name``).
        self.names: list[tuple[str, str]] = []
        self.pieces: deque[Piece] = deque()
        self.base = 0
        self.size = 0
        self.done = False
        self.error: BaseException | None = None
        #: The stream's final usage, and what its upstream call cost (the saving of each other reader).
        self.usage: Usage | None = None
        self.cost = 0.0
        #: A chunk called a tool (such answers are kept only where the alias says so).
        self.tools = False
        #: Prices a usage (the deployment that answered; set once the stream opened), for ``cost``.
        self.price: Callable[[Usage], float] | None = None
        self.readers = 0
        self.owner_left = False
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        #: One future per waiting reader (a shared one would be cancelled with the first waiter cancelled).
        self._waiters: list[asyncio.Future[None]] = []
        self.task: asyncio.Task[None] | None = None
        #: Awaited once the stream ended (the stage keeps the entry, the relay says so, ...).
        self.on_end: Callable[[StreamFlight], Awaitable[None]] | None = None
        #: Whether readers elsewhere still listen (the relay asks Redis), when the last one here left.
        self.listened: Callable[[], Awaitable[bool]] | None = None
        #: Following another replica: the reader of the request that would lead if that replica went away.
        self.candidate: Reader | None = None
        #: Leading for other replicas too: the claim (``relay.Lead``) and the task relaying the chunks.
        self.lead: Any = None
        self.writer: asyncio.Task[None] | None = None

    # -- the task ---------------------------------------------------------------------------------
    def start(self, source: Source) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(source), name="switchyard-flight")

    async def _run(self, source: Source) -> None:
        try:
            chunks = await source(self)
        except BaseException as exc:
            self.opened.set_exception(copied(exc))
            self.opened.exception()  # retrieved: the waiters raise their own copies
            await self._end(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self.opened.set_result(None)
        error: BaseException | None = None
        try:
            async for chunk in chunks:
                self.append(piece_of(chunk))
        except BaseException as exc:
            error = exc
        finally:
            try:
                await chunks.aclose()  # type: ignore[attr-defined]
            except Exception:  # a failure to close is not the stream's failure
                pass
        await self._end(error)
        if isinstance(error, asyncio.CancelledError):
            raise error

    def append(self, piece: Piece) -> None:
        pieces = self.pieces
        pieces.append(piece)
        if piece.usage is not None:
            usage = self.usage = usage_of(piece.usage)
            if self.price is not None and usage is not None:
                self.cost = self.price(usage)
        if not self.tools and piece.raw is not None and piece_calls_tools(piece):
            self.tools = True
        size = self.size = self.size + 48 + len(piece.raw or b"") + len(piece.native or b"")
        if size > self.limit:
            while self.size > self.limit and len(pieces) > 1:
                dropped = pieces.popleft()
                self.base += 1
                self.size -= 48 + len(dropped.raw or b"") + len(dropped.native or b"")
        if self._waiters:
            self._notify()

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _end(self, error: BaseException | None) -> None:
        self.done = True
        self.error = error
        self._notify()
        try:
            if self.on_end is not None:
                await asyncio.shield(self.on_end(self))
        finally:
            if not self.ended.done():
                self.ended.set_result(None)

    @property
    def whole(self) -> bool:
        """Whether the buffer still holds the stream from its first chunk."""
        return self.base == 0

    def changed(self) -> asyncio.Future[None]:
        """A future done at the next chunk or the end (one per waiter)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- readers ----------------------------------------------------------------------------------
    def reader(self, call: Call | None, *, owner: bool = False) -> Reader:
        self.readers += 1
        return Reader(self, call, owner)

    async def left(self, reader: Reader) -> None:
        """A reader stopped before the end."""
        self.readers -= 1
        if reader.owner:
            self.owner_left = True
        if self.readers > 0 or self.done:
            return
        if self.listened is not None:
            try:
                if await self.listened():
                    return
            except Exception:  # cannot tell: nobody here listens, so stop
                pass
        if self.readers == 0:
            self.cancel()


class Reader:
    """One client's view of a stream flight: every chunk from the first, at its own pace.

    The owner's reader hands chunks on as they came (the pipeline prices the usage
    chunk, the call is the upstream one); another reader's usage chunk says what
    this client paid (``usage.cost_usd``: 0) and what the call it shared cost
    (``usage.saved_usd``)."""

    __slots__ = ("flight", "call", "owner", "pos", "closed", "_deadline")

    def __init__(self, flight: StreamFlight, call: Call | None, owner: bool) -> None:
        self.flight = flight
        self.call = call
        self.owner = owner
        self.pos = 0
        self.closed = False
        #: Readers whose own deadline is earlier than the owner's wait by it (rare).
        owner_call = flight.owner
        mine = call.deadline if call is not None else None
        theirs = owner_call.deadline if owner_call is not None else None
        self._deadline = mine if mine is not None and not owner and (theirs is None or mine < theirs) else None

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> Chunk:
        flight = self.flight
        while True:
            index = self.pos - flight.base
            if index < 0:
                raise SubscriberTooSlow(
                    "This stream was ended: its reader fell more than "
                    f"{flight.limit} bytes behind the shared stream (cache.stream_buffer_bytes).")
            pieces = flight.pieces
            if index < len(pieces):
                self.pos += 1
                piece = pieces[index]
                if piece.usage is None:
                    return Chunk(raw=piece.raw, more=piece.more, native=piece.native)
                if self.owner:
                    return chunk_of(piece)
                return chunk_of(piece, cost=0.0, saved=flight.cost or None)
            if flight.done:
                if flight.error is not None:
                    raise copied(flight.error)
                raise StopAsyncIteration
            await self._changed()

    async def _changed(self) -> None:
        wake = self.flight.changed()
        if self._deadline is None:
            await wake
            return
        remaining = self._deadline - time.monotonic()
        try:
            await asyncio.wait_for(wake, max(remaining, 0.0))
        except TimeoutError:
            raise UpstreamTimeout("The request's deadline passed during the shared stream.") from None

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        flight = self.flight
        if not flight.done:
            await flight.left(self)
            if self.owner and not flight.done and flight.readers > 0:
                try:  # others read on: this request's record carries the call's whole usage
                    await asyncio.shield(flight.ended)
                except asyncio.CancelledError:  # shutting down: settled with what it saw
                    self._settle()
                    raise
        else:
            flight.readers -= 1
        self._settle()

    def _settle(self) -> None:
        call, flight = self.call, self.flight
        if call is None or not flight.done or flight.error is not None:
            return
        if self.owner:
            if call.usage is None and flight.usage is not None:
                call.usage = flight.usage  # it left before the usage chunk: the pipeline takes it from here
        else:
            call.saved = flight.cost
