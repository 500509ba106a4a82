"""``ChunkedBody``: a stream's body pieces written straight onto uvicorn's transport."""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from switchyard.server.connection import ChunkedBody


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class Flow:
    write_paused = False


def _cycle(method: str = "POST") -> tuple[RequestResponseCycle, Transport]:
    transport = Transport()
    log = logging.getLogger("test")
    cycle = RequestResponseCycle(
        scope={"method": method, "type": "http"}, transport=transport, flow=Flow(), logger=log,  # type: ignore[arg-type]
        access_logger=log, access_log=False, default_headers=[], message_event=asyncio.Event(),
        expect_100_continue=False, keep_alive=True, on_response=lambda: None)
    return cycle, transport


async def _started(cycle: RequestResponseCycle) -> None:
    await cycle.send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})


async def test_pieces_are_written_as_http_chunks_like_uvicorns_send():
    cycle, transport = _cycle()
    await _started(cycle)
    body = ChunkedBody.of(cycle.send)
    assert body is not None
    assert body.write(b"data: {}\n\n")
    await cycle.send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True})
    assert transport.written[-2] == transport.written[-1] == b"a\r\ndata: {}\n\n\r\n"


async def test_a_full_or_gone_client_is_left_to_send():
    cycle, transport = _cycle()
    await _started(cycle)
    body = ChunkedBody.of(cycle.send)
    assert body is not None
    cycle.flow.write_paused = True
    assert not body.write(b"x")
    cycle.flow.write_paused = False
    cycle.disconnected = True
    assert not body.write(b"x")
    assert len(transport.written) == 1  # the head only


async def test_only_a_started_chunked_uvicorn_response_has_one():
    async def send(message: object) -> None:
        return None

    assert ChunkedBody.of(send) is None
    head, _ = _cycle("HEAD")
    await _started(head)
    assert ChunkedBody.of(head.send) is None
    fresh, _ = _cycle()
    assert ChunkedBody.of(fresh.send) is None  # not started: not known to be chunked
