"""The one HTTP driver under every provider adapter: send, check, read, close.

An adapter knows its wire format (URLs, bodies, headers, pure parse
functions); the ``Driver`` it holds does the rest, the same for every
upstream: the shared pooled client, the deployment's timeouts bounded by the
call's deadline, a non-2xx status raised through the adapter's
``parse_error``, and for a stream the read loop that feeds the upstream's
bytes to a ``StreamReader`` and always closes the exchange.

Headers a policy put on ``call.outbound_headers`` for the attempt in progress
(the W3C ``traceparent`` of the attempt's span) go with the adapter's own.

When the upstream accepts a request, the driver puts the response headers the
adapter keeps (rate-limit state, request ids) on ``call.upstream_headers``,
for a unary answer and when a stream opens alike, so a policy learns them
without hooks on the adapter.

A stream is translated as it arrives, never buffered whole; the chunks of one
network read leave with ``more`` set on all but the last, so the server
writes them to the client at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from switchyard.core.call import Call
from switchyard.core.config.models import Timeouts
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import Chunk
from switchyard.transport.sse import SSEDecoder

#: ``parse_error(status, body, get_header)``: a wire format's non-2xx answer as a core error.
ErrorParser = Callable[[int, bytes, Callable[[str], str | None]], SwitchyardError]


class StreamReader(Protocol):
    """One upstream stream's bytes -> chunks: the framing (SSE, NDJSON, AWS event
    stream) and the translation. Pure: no network."""

    @property
    def finished(self) -> bool:
        """True once the upstream has said its last word: the driver stops reading."""
        ...

    def feed(self, data: bytes) -> Iterable[Chunk]:
        """The chunks of one network read; raises a core error for an error event.
        Lazily, the chunks before an error still reach the client; a list (the
        whole read decoded at once) costs less, and loses them."""
        ...

    def close(self) -> Iterable[Chunk]:
        """The chunks after the last read; raises if the stream ended early."""
        ...


class EventTranslator(Protocol):
    def feed(self, data: str) -> list[Chunk]:
        """The chunks for one SSE event's data; raises a core error for an error event."""
        ...

    def close(self) -> list[Chunk]:
        """The chunks after the upstream ended the stream; raises if it ended early."""
        ...


class SSEStream:
    """A ``StreamReader`` for SSE whose events translate one ``data`` at a time;
    an event whose data is ``skip`` (a ``[DONE]`` sentinel) carries nothing and ends
    the stream. Without one it reads until the upstream ends the body."""

    __slots__ = ("translator", "skip", "finished", "_sse")

    def __init__(self, translator: EventTranslator, *, skip: str | None = None) -> None:
        self.translator = translator
        self.skip = skip
        self.finished = False
        self._sse = SSEDecoder()

    def feed(self, data: bytes) -> Iterator[Chunk]:
        for event in self._sse.feed(data):
            if event.data == self.skip:
                self.finished = True
                return
            yield from self.translator.feed(event.data)

    def close(self) -> list[Chunk]:
        return self.translator.close()


def batched(chunks: Iterable[Chunk]) -> Iterable[Chunk]:
    """``chunks`` (those of one network read) with ``more`` set on all but the last.

    A list (an eager reader's: it raised before any chunk left, or not at all) is
    marked in place and returned, which costs no generator on the hot path. Else one
    chunk is held back to know whether another follows; when the next one raises
    instead, the held chunk is still delivered before the error."""
    if type(chunks) is list:
        for chunk in chunks[:-1]:
            chunk.more = True
        return chunks
    return _held_back(chunks)


def _held_back(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    held: Chunk | None = None
    try:
        for chunk in chunks:
            if held is not None:
                held.more = True
                yield held
            held = chunk
    except Exception:
        if held is not None:
            yield held
        raise
    if held is not None:
        yield held


class Driver:
    """One deployment's HTTP exchanges, for whichever wire format its adapter speaks.

    ``keep`` maps the upstream response headers worth keeping to the names they
    are kept under (``{"x-amzn-requestid": "x-request-id"}``); headers not in
    it are dropped.
    """

    __slots__ = ("http", "timeouts", "parse_error", "keep", "_keep_raw")

    def __init__(self, http: Any, timeouts: Timeouts, parse_error: ErrorParser,
                 keep: Mapping[str, str] | None = None) -> None:
        self.http = http
        self.timeouts = timeouts
        self.parse_error = parse_error
        self.keep: Mapping[str, str] = keep or {}
        self._keep_raw = {name.encode("latin-1"): kept for name, kept in self.keep.items()}

    def timeout(self, call: Call) -> float:
        """The request timeout, shortened to what is left of the call's deadline."""
        timeout = self.timeouts.request
        remaining = call.remaining()
        return timeout if remaining is None else max(0.001, min(timeout, remaining))

    def kept(self, headers: Any) -> dict[str, str]:
        """The headers of a response that ``keep`` names, under the names it gives them."""
        return headers.select(self.keep, self._keep_raw)  # type: ignore[no-any-return]

    async def send(self, url: str, payload: bytes, headers: Mapping[str, str], call: Call, *,
                   method: str = "POST") -> Any:
        """POST ``payload`` (or ``method``: a poll's GET): the accepted response (its kept headers on
        ``call.upstream_headers``), or the upstream's error raised as a core error."""
        extra = call.outbound_headers
        if extra is not None:
            headers = {**headers, **extra}
        response = await self.http.request(method, url, headers=headers, body=payload, timeout=self.timeout(call),
                                           connect_timeout=self.timeouts.connect, total_timeout=call.remaining())
        if response.status >= 300:
            raise self.parse_error(response.status, response.content, response.headers.get)
        call.upstream_headers = self.kept(response.headers)
        return response

    async def open(self, url: str, payload: bytes, headers: Mapping[str, str], call: Call,
                   reader: StreamReader, *, method: str = "POST") -> AsyncIterator[Chunk]:
        """POST ``payload`` (or ``method``: a stream URL's GET) for a stream. Resolves once the
        upstream accepted it (its kept headers on ``call.upstream_headers``) to the chunks
        ``reader`` makes of the body; the caller must ``aclose`` them. An error status is raised here."""
        extra = call.outbound_headers
        if extra is not None:
            headers = {**headers, **extra}
        context = self.http.stream(method, url, headers=headers, body=payload, timeout=self.timeout(call),
                                   connect_timeout=self.timeouts.connect, total_timeout=call.remaining(),
                                   on_pool_wait=call.on_pool_wait)
        response = await context.__aenter__()
        try:
            if response.status >= 300:
                raise self.parse_error(response.status, await response.aread(), response.headers.get)
        except BaseException as exc:
            await context.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        call.upstream_headers = self.kept(response.headers)
        chunks = UpstreamChunks.of(context, response, reader, self.timeouts.idle)
        return chunks if chunks is not None else self._read(context, response, reader)

    async def _read(self, context: Any, response: Any, reader: StreamReader) -> AsyncIterator[Chunk]:
        try:
            take, wait, idle = response.take, response.wait, self.timeouts.idle
            while True:  # ``aiter_bytes`` written out: one async generator less per read
                data = take()
                if data is None:
                    break
                if not data:
                    await wait(idle)
                    continue
                chunks = reader.feed(data)
                if type(chunks) is not list:
                    chunks = _held_back(chunks)
                elif len(chunks) > 1:  # ``batched`` written out: a paced stream's read is one chunk
                    for chunk in chunks[:-1]:
                        chunk.more = True
                for chunk in chunks:
                    yield chunk
                if reader.finished:
                    # The last word is here: the client gets it now, while the rest of
                    # the body (its chunked end) is read in the background and the
                    # connection pooled.
                    response.stop_reading()
                    break
            for chunk in batched(reader.close()):
                yield chunk
        finally:
            await context.__aexit__(None, None, None)


#: What a pushing reader hands each chunk to: False asks it to hold the next ones.
ChunkSink = Callable[[Chunk], bool]


class UpstreamChunks:
    """The chunks ``reader`` makes of a streamed HTTP/1.1 response's body, decoded in the
    connection's protocol callback as the bytes arrive (``StreamResponse.listen``).

    Read like any stream (``__anext__``, a plain call returning a future the first chunk of the
    next read resolves), or pushed: ``push(sink)`` hands every chunk to ``sink`` as it is decoded,
    in the callback, with no task woken per chunk, until the stream ends (then it raises
    ``StopAsyncIteration``), fails (raises that error) or ``sink`` asks to hold (returns True:
    the socket is not read until the next ``push`` or ``__anext__``).

    What ``Driver._read`` does, the same way: the chunks of one read say ``more`` but the last;
    an error comes after the chunks decoded before it; the connection goes back (``release``:
    pooled, drained after ``[DONE]``, or closed) once the stream ends or fails, or at ``aclose``.
    A release decided in the protocol callback runs just after it (``call_soon``), never inside
    the parser's callback."""

    __slots__ = ("_release", "_response", "_take", "_conn", "_reader", "_idle", "_loop", "_ready",
                 "_failure", "_over", "_sink")

    def __init__(self, release: Callable[[], None], response: Any, reader: StreamReader,
                 idle: float | None) -> None:
        self._release = release
        self._response = response
        self._take = response.take
        self._reader = reader
        self._idle = idle
        self._loop = asyncio.get_running_loop()
        #: One read's chunks at most (and the end's), first out first: a list (a deque is 600 bytes a stream).
        self._ready: list[Chunk] = []
        self._failure: BaseException | None = None
        self._over = False
        self._sink: ChunkSink | None = None
        self._conn = response.listen(self._arrived)

    @classmethod
    def of(cls, context: Any, response: Any, reader: StreamReader, idle: float | None) -> UpstreamChunks | None:
        """One over ``response`` when its connection takes listeners and ``context`` releases it
        without a coroutine (HTTP/1.1), else None (``Driver._read`` then reads it)."""
        release = getattr(context, "release", None)
        if release is None:
            return None
        chunks = cls(release, response, reader, idle)
        return chunks if chunks._conn is not None else None

    def __aiter__(self) -> UpstreamChunks:
        return self

    def __anext__(self) -> asyncio.Future[Chunk]:
        self._sink = None
        ready = self._ready
        if not ready and not self._over:
            conn = self._conn
            if not conn.body and not conn.complete and conn.exc is None:
                return conn.next_body(self._idle)  # type: ignore[no-any-return]  # resolved by ``_arrived``
            self._decode(False)  # what came while the consumer was busy
        future: asyncio.Future[Chunk] = self._loop.create_future()
        if ready:
            future.set_result(ready.pop(0))
        elif self._over:
            future.set_exception(self._last())
        else:
            return self._conn.next_body(self._idle)  # type: ignore[no-any-return]
        return future

    def push(self, sink: ChunkSink) -> asyncio.Future[bool]:
        """Hand every chunk to ``sink`` as it comes: resolves True when ``sink`` asked to hold,
        raises ``StopAsyncIteration`` at the end and the stream's error when it fails."""
        self._sink = None
        ready = self._ready
        future: asyncio.Future[bool]
        if not self._over:
            conn = self._conn
            if conn.body or conn.complete or conn.exc is not None:
                self._decode(False)
        while ready:
            if not sink(ready.pop(0)):
                future = self._loop.create_future()
                future.set_result(True)
                return future
        if self._over:
            future = self._loop.create_future()
            future.set_exception(self._last())
            return future
        self._sink = sink
        return self._conn.next_body(self._idle)  # type: ignore[no-any-return]  # resolved by ``_arrived``

    async def aclose(self) -> None:
        self._over = True
        self._sink = None
        self._ready.clear()
        self._release()

    def _arrived(self, waiter: asyncio.Future[Any]) -> None:
        """The connection's listener: bytes, the end or an error arrived while ``waiter`` is awaited."""
        self._decode(True)
        ready = self._ready
        sink = self._sink
        if sink is not None:
            try:
                while ready:
                    if not sink(ready.pop(0)):
                        self._sink = None
                        if not self._over:
                            self._conn.hold()
                        waiter.set_result(True)
                        return
            except Exception as exc:
                self._sink = None
                self._ready.clear()
                self._end(exc, True)
        if ready:
            waiter.set_result(ready.pop(0))
        elif self._over:
            self._sink = None
            waiter.set_exception(self._last())
        else:  # an unfinished event, or chunks pushed on: the wait goes on
            self._conn.extend_idle(self._idle)

    def _last(self) -> BaseException:
        failure, self._failure = self._failure, None
        return failure if failure is not None else StopAsyncIteration()

    def _decode(self, in_callback: bool) -> None:
        """Decode what has arrived into ``_ready``; the end or a failure makes it ``_over``."""
        reader, ready = self._reader, self._ready
        try:
            data = self._take()
            if data is None:
                ready.extend(batched(reader.close()))
                self._end(None, in_callback)
                return
            if not data:
                return
            chunks = reader.feed(data)
            if type(chunks) is list:
                if len(chunks) > 1:
                    for chunk in chunks[:-1]:
                        chunk.more = True
                ready.extend(chunks)
            else:
                last: Chunk | None = None
                for chunk in chunks:  # lazily: those before an error still go out
                    if last is not None:
                        last.more = True
                    ready.append(chunk)
                    last = chunk
            if reader.finished:
                # The last word is here: the client gets it now, while the rest of the
                # body (its chunked end) is read in the background and the connection pooled.
                self._response.stop_reading()
                ready.extend(batched(reader.close()))
                self._end(None, in_callback)
        except Exception as exc:
            self._end(exc, in_callback)

    def _end(self, failure: BaseException | None, in_callback: bool) -> None:
        self._over = True
        self._failure = failure
        if in_callback:
            self._loop.call_soon(self._release)
        else:
            self._release()
