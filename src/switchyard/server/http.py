"""The small HTTP vocabulary of the raw ASGI app: requests, responses, SSE.

The server talks ASGI directly instead of through a framework: on the hot path
every microsecond between the client and the model is ours to answer for.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from switchyard.core.errors import SwitchyardError, to_openai_body

log = logging.getLogger("switchyard.server")

JSON = b"application/json"
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class Request:
    """What a handler sees of an HTTP request."""

    method: str
    path: str
    query: bytes
    headers: dict[str, str]
    body: bytes
    request_id: str
    caller: Any = None
    path_params: dict[str, str] = field(default_factory=dict)
    #: ``await client_gone()`` returns when the client disconnects (see ``Call.client_gone``).
    client_gone: Any = None
    #: The request's ``Call`` once the handler made one (``request.call = call``): the
    #: access log reads the route, attempts and usage from it.
    call: Any = None
    #: ``(host, port)`` of the client as the server saw it (for the audit trail), when known.
    client: Any = None


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_type: bytes = JSON


def json_response(data: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, orjson.dumps(data), headers or [])


def encode_headers(values: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in values.items()]


class ChunkFrames:
    """OpenAI chunks to be sent as SSE frames: ``send_all`` frames them as it reads them
    (``frame_of``), no generator in between; chunks that arrived together (``chunk.more``)
    leave as one write — a socket write per token is the largest cost of a fast stream."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: AsyncIterator[Any]) -> None:
        self.chunks = chunks

    async def aclose(self) -> None:
        await self.chunks.aclose()  # type: ignore[attr-defined]

    async def send_all(self, send: Any, direct: Any, tick: Callable[[], None] | None) -> None:
        """Sends every chunk's frame as a body message through ``send``, or written straight
        (``direct``: a ``ChunkedBody``, when the server is uvicorn); ``tick`` after each write.

        With ``direct`` and a stream that pushes (``Served.relay``: the deployment's own, no
        stage between), each frame is written from the upstream connection's protocol callback
        as it is decoded, no task woken per chunk; when the client's socket is full the stream
        holds (the upstream is not read) while ``send`` waits for it to drain."""
        chunks = self.chunks
        pending: list[bytes] = []
        if direct is not None and getattr(chunks, "pushes", False):
            write = direct.write

            def sink(chunk: Any) -> bool:
                framed = frame_of(chunk)
                if framed is not None:
                    pending.append(framed)
                if not pending or chunk.more:
                    return True
                frame = pending[0] if len(pending) == 1 else b"".join(pending)
                pending.clear()
                if not write(frame):
                    pending.append(frame)
                    return False
                if tick is not None:
                    tick()
                return True

            while await chunks.relay(sink):  # type: ignore[attr-defined]  # held: the client is full
                frame = b"".join(pending)
                pending.clear()
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                if tick is not None:
                    tick()
        else:
            async for chunk in chunks:
                framed = frame_of(chunk)
                if framed is not None:
                    pending.append(framed)
                if not pending or chunk.more:
                    continue
                frame = pending[0] if len(pending) == 1 else b"".join(pending)
                pending.clear()
                if direct is None or not direct.write(frame):
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                if tick is not None:
                    tick()
        if pending:
            await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})


def frame_of(chunk: Any) -> bytes | None:
    """A chunk's ``data:`` frame; None when it has nothing to send."""
    raw: bytes | None = chunk.raw
    if raw is not None:
        return b"data: " + raw + b"\n\n"
    if chunk.data is not None:
        data: bytes = chunk.to_bytes()
        return b"data: " + data + b"\n\n"
    return None


@dataclass(slots=True)
class StreamResponse:
    """A server-sent-event stream (or, with another ``content_type``, any body sent in pieces).

    ``events`` yields complete SSE frames (``data: ...\n\n``); if it fails after
    the first frame, ``error_frame`` renders the terminal error frame; ``done``
    is written after the last frame of a complete stream (OpenAI's ``[DONE]``).
    """

    events: AsyncIterator[bytes] | ChunkFrames
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    error_frame: Callable[[BaseException], bytes] | None = None
    done: bytes | None = DONE
    #: Not SSE: a body sent in pieces as they are produced (a batch's output file).
    content_type: bytes = b"text/event-stream; charset=utf-8"


def as_stream_error(exc: BaseException) -> SwitchyardError:
    """What a client is told about a stream that broke after its first byte: the cause
    itself (its code reads as it would before the first byte), or an internal error."""
    if isinstance(exc, SwitchyardError):
        return exc
    # Logged (with the request id) by the server, which sends this error event.
    return SwitchyardError("The stream was interrupted by an internal error.")


def openai_error_frame(exc: BaseException) -> bytes:
    return b"data: " + orjson.dumps(to_openai_body(as_stream_error(exc))) + b"\n\n"
