"""Bounded mailboxes, and pub/sub fanned out inside one process.

Every subscription, whatever the backend, reads from a ``Mailbox``: a deque of
at most ``buffer`` messages. A slow reader loses the OLDEST messages (counted in
``dropped``), never blocks the publisher: pub/sub here carries invalidations,
where the newest message matters most.

``LocalPubSub`` is the memory and SQLite stores' pub/sub: delivery to the
subscribers of this process only (SQLite is one machine; run one gateway
process per SQLite file, or use Redis/PostgreSQL to share invalidations).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType


class Mailbox:
    """A bounded buffer of messages with an awaitable "something arrived"."""

    __slots__ = ("messages", "dropped", "closed", "_arrived")

    def __init__(self, buffer: int) -> None:
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        self.messages: deque[bytes] = deque(maxlen=buffer)
        self.dropped = 0
        self.closed = False
        self._arrived = asyncio.Event()

    def put(self, message: bytes) -> None:
        if len(self.messages) == self.messages.maxlen:
            self.dropped += 1  # deque(maxlen) drops the oldest on append
        self.messages.append(message)
        self._arrived.set()

    def close(self) -> None:
        self.closed = True
        self._arrived.set()

    async def take(self) -> bytes:
        """The oldest buffered message; raises ``StopAsyncIteration`` once closed and empty."""
        while not self.messages:
            if self.closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self.messages.popleft()


class MailboxSubscription:
    """A subscription reading its mailbox; backends override ``_open`` and ``_close``."""

    def __init__(self, channel: str, buffer: int) -> None:
        self.channel = channel
        self.mailbox = Mailbox(buffer)

    @property
    def dropped(self) -> int:
        return self.mailbox.dropped

    async def _open(self) -> None:
        """Start receiving; returns once messages published from now on will arrive."""

    async def _close(self) -> None:
        """Stop receiving and release what ``_open`` took."""

    async def __aenter__(self) -> MailboxSubscription:
        await self._open()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.mailbox.close()
        await self._close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        return await self.mailbox.take()


class LocalSubscription(MailboxSubscription):
    def __init__(self, hub: LocalPubSub, channel: str, buffer: int) -> None:
        super().__init__(channel, buffer)
        self.hub = hub

    async def _open(self) -> None:
        self.hub.channels.setdefault(self.channel, set()).add(self.mailbox)

    async def _close(self) -> None:
        boxes = self.hub.channels.get(self.channel)
        if boxes is not None:
            boxes.discard(self.mailbox)
            if not boxes:
                del self.hub.channels[self.channel]


class LocalPubSub:
    """Pub/sub among the subscribers of this process."""

    def __init__(self) -> None:
        self.channels: dict[str, set[Mailbox]] = {}

    async def publish(self, channel: str, message: bytes) -> None:
        for box in tuple(self.channels.get(channel, ())):
            box.put(message)

    def subscribe(self, channel: str, *, buffer: int = 1024) -> LocalSubscription:
        return LocalSubscription(self, channel, buffer)

    def close(self) -> None:
        for boxes in self.channels.values():
            for box in boxes:
                box.close()
        self.channels.clear()
