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
        return self._read(context, response, reader)

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
