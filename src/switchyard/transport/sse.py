"""Server-Sent Events: an incremental decoder and a fast encoder.

The decoder follows the WHATWG event-stream rules: lines end in ``\\n``,
``\\r\\n`` or ``\\r`` (a ``\\r`` at the end of a feed waits for the next byte);
``data`` lines of one event are joined with ``\\n``; lines starting with ``:``
are comments; a blank line dispatches the event unless it had no data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ServerSentEvent:
    """One dispatched event; ``event`` is ``"message"`` when the stream named none."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes in any split; get back the events they complete."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_retry")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    @property
    def idle(self) -> bool:
        """Nothing held between events: a reader may split whole events itself (``data_only``)."""
        return not self._buf and not self._data and self._event is None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk`` (possibly none)."""
        buf = self._buf + chunk if self._buf else chunk
        held = b""
        if buf.find(b"\r") >= 0:
            if buf.endswith(b"\r"):
                buf, held = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._buf = buf + held
            return []
        self._buf = buf[cut + 1 :] + held
        events: list[ServerSentEvent] = []
        for line in buf[:cut].split(b"\n"):
            self._line(line, events)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """At end of stream: the event an unterminated final line completes, if any."""
        events: list[ServerSentEvent] = []
        if self._buf:
            rest, self._buf = self._buf, b""
            for line in rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
                self._line(line, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[ServerSentEvent]) -> None:
        if not line:
            if self._data:
                events.append(ServerSentEvent("\n".join(self._data), self._event or "message", self._id, self._retry))
            self._data = []
            self._event = None
            self._retry = None
            return
        if line[0] == 0x3A:  # ":" comment
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if value.find(b"\0") < 0:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)


def data_only(data: bytes) -> list[bytes] | None:
    """The payloads of ``data``, when it is whole events each of one ``data: `` line and
    nothing else (what OpenAI-format upstreams send): the hot path's split, no event objects.
    None for anything else (a partial event, CRs, comments, other fields, multi-line data):
    the full decoder's work."""
    if data[-2:] != b"\n\n" or data.find(b"\r") >= 0:
        return None
    blocks = data[:-2].split(b"\n\n")
    for block in blocks:
        if block[:6] != b"data: " or block.find(b"\n") >= 0:
            return None
    return [block[6:] for block in blocks]


def encode_data(data: bytes) -> bytes:
    """``data: <data>\\n\\n`` for a payload without line breaks (compact JSON)."""
    return b"data: " + data + b"\n\n"


def encode_event(data: str | bytes, *, event: str | None = None, id: str | None = None) -> bytes:
    """A full event; multi-line ``data`` becomes several ``data:`` lines."""
    raw = data.encode() if isinstance(data, str) else data
    out = []
    if event is not None:
        out.append(b"event: " + event.encode() + b"\n")
    if id is not None:
        out.append(b"id: " + id.encode() + b"\n")
    for line in raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        out.append(b"data: " + line + b"\n")
    out.append(b"\n")
    return b"".join(out)
