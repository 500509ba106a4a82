"""``ChunkedBody``: a stream's body pieces written straight onto the connection (server/connection.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from switchyard.core.config.server import ServerConfig
from switchyard.server.connection import ChunkedBody, ConnectionGuard, Cycle, Http1


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _cycle(loop: asyncio.AbstractEventLoop, method: str = "POST") -> tuple[Cycle, Transport]:
    conn = Http1(SimpleNamespace(loaded_app=None), SimpleNamespace(connections=set(), tasks=set(), total_requests=0),
                 {}, _loop=loop, guard=ConnectionGuard(ServerConfig()))
    transport = conn.transport = Transport()  # type: ignore[assignment]
    return Cycle(conn, {"method": method, "type": "http"}, True, False), transport


def _started(loop: asyncio.AbstractEventLoop, cycle: Cycle) -> None:
    loop.run_until_complete(cycle.send({"type": "http.response.start", "status": 200,
                                        "headers": [(b"content-type", b"text/event-stream")]}))


def test_pieces_are_written_as_http_chunks_like_send(loop):
    cycle, transport = _cycle(loop)
    _started(loop, cycle)
    body = ChunkedBody.of(cycle.send)
    assert body is not None
    assert body.write(b"data: {}\n\n")
    loop.run_until_complete(cycle.send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True}))
    assert transport.written[-2] == transport.written[-1] == b"a\r\ndata: {}\n\n\r\n"


def test_a_full_or_gone_client_is_left_to_send(loop):
    cycle, transport = _cycle(loop)
    _started(loop, cycle)
    body = ChunkedBody.of(cycle.send)
    assert body is not None
    cycle.conn.write_paused = True
    assert not body.write(b"x")
    cycle.conn.write_paused = False
    cycle.disconnected = True
    assert not body.write(b"x")
    assert len(transport.written) == 1  # the head only


def test_only_a_started_chunked_response_has_one(loop):
    async def send(message: object) -> None:
        return None

    assert ChunkedBody.of(send) is None
    head, _ = _cycle(loop, "HEAD")
    _started(loop, head)
    assert ChunkedBody.of(head.send) is None
    fresh, _ = _cycle(loop)
    assert ChunkedBody.of(fresh.send) is None  # not started: not known to be chunked
