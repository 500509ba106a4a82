"""The mock upstream over HTTP/2: the same routes, replies, streams and faults as
over HTTP/1.1, one h2 stream per request (``h2``, sans-IO, on the asyncio transport).

Chosen by ALPN when the mock serves TLS with ``http2=True``. A fault that drops a
stream after N chunks resets that h2 stream (``RST_STREAM``), the HTTP/2 form of
closing the connection mid-body; the other requests on the connection go on.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from switchyard.mock.wire import MockRequest, Reply, StreamReply

if TYPE_CHECKING:
    from switchyard.mock.faults import Faults
    from switchyard.mock.server import MockUpstream

_WINDOW = 1 << 24


class MockH2Protocol(asyncio.Protocol):
    """One HTTP/2 connection of the mock upstream."""

    def __init__(self, server: MockUpstream) -> None:
        self._server = server
        self._h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_inbound_headers=False, normalize_inbound_headers=False,
            validate_outbound_headers=False, normalize_outbound_headers=False))
        self._transport: asyncio.Transport | None = None
        self._requests: dict[int, tuple[list[tuple[bytes, bytes]], list[bytes]]] = {}
        self._blocked: dict[int, list[tuple[bytes, bool]]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server._protocols.add(self)
        self._server.opened(transport)
        conn = self._h2
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
        })
        conn.initiate_connection()
        conn.increment_flow_control_window(_WINDOW)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._protocols.discard(self)
        self._transport = None
        for task in self._tasks.values():
            task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            if self._transport is not None:
                self._transport.close()
            return
        for event in events:
            kind = type(event)
            if kind is h2.events.RequestReceived:
                self._requests[event.stream_id] = (event.headers, [])  # type: ignore[attr-defined]
            elif kind is h2.events.DataReceived:
                request = self._requests.get(event.stream_id)  # type: ignore[attr-defined]
                if request is not None:
                    request[1].append(event.data)  # type: ignore[attr-defined]
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)  # type: ignore[attr-defined]
            elif kind is h2.events.StreamEnded:  # the request is whole (it follows its headers or data)
                if event.stream_id in self._requests:  # type: ignore[attr-defined]
                    self._dispatch(event.stream_id)  # type: ignore[attr-defined]
            elif kind is h2.events.WindowUpdated:
                self._unblock()
            elif kind is h2.events.StreamReset:
                self._forget(event.stream_id)  # type: ignore[attr-defined]
            elif kind is h2.events.ConnectionTerminated and self._transport is not None:
                self._transport.close()
        self._flush()

    def _dispatch(self, stream_id: int) -> None:
        raw_headers, body = self._requests.pop(stream_id)
        fields: dict[str, str] = {}
        headers: dict[str, str] = {}
        mock_headers: dict[str, str] = {}
        for name, value in raw_headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            if key[0] == ":":
                fields[key] = text
                continue
            headers[key] = text
            if key.startswith("x-mock-"):
                mock_headers[key] = text
        path, _, query = fields.get(":path", "/").partition("?")
        req = MockRequest(fields.get(":method", "GET"), path, query, headers, b"".join(body), mock_headers)
        reply, faults = self._server.handle(req)
        delay = self._server.settings.chunk_delay_ms
        if faults is not None and faults.chunk_delay_ms is not None:
            delay = faults.chunk_delay_ms
        if (faults is None or not (faults.latency_ms or faults.hang or faults.drop_after_chunks is not None)) and (
                isinstance(reply, Reply) or not delay):
            self._write(stream_id, reply, req)
            return
        self._tasks[stream_id] = asyncio.get_running_loop().create_task(
            self._respond_later(stream_id, reply, req, faults, delay / 1000))

    async def _respond_later(self, stream_id: int, reply: Reply | StreamReply, req: MockRequest,
                             faults: Faults | None, delay: float) -> None:
        try:
            if faults is not None and faults.hang:
                await asyncio.get_running_loop().create_future()  # until the client resets or leaves
            if faults is not None and faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            drop = faults.drop_after_chunks if faults is not None else None
            if isinstance(reply, Reply):
                if drop is not None:
                    self._head(stream_id, reply.status, reply.content_type, reply.headers, req, len(reply.body))
                    self._send(stream_id, reply.body[: len(reply.body) // 2], False)
                    self._reset(stream_id)
                else:
                    self._write(stream_id, reply, req)
                return
            self._head(stream_id, reply.status, reply.content_type, reply.headers, req, None)
            for i, chunk in enumerate(reply.chunks):
                if drop is not None and i >= drop:
                    self._reset(stream_id)
                    return
                if delay and i:
                    self._flush()
                    await asyncio.sleep(delay)
                self._send(stream_id, chunk, False)
            self._send(stream_id, b"", True)
        except h2.exceptions.StreamClosedError:
            pass  # the client reset the stream meanwhile
        finally:
            self._tasks.pop(stream_id, None)
            self._flush()

    def _write(self, stream_id: int, reply: Reply | StreamReply, req: MockRequest) -> None:
        if isinstance(reply, Reply):
            self._head(stream_id, reply.status, reply.content_type, reply.headers, req, len(reply.body))
            self._send(stream_id, reply.body, True)
            return
        self._head(stream_id, reply.status, reply.content_type, reply.headers, req, None)
        last = len(reply.chunks) - 1
        for i, chunk in enumerate(reply.chunks):  # a DATA frame each, as HTTP/1.1 writes an HTTP chunk each
            self._send(stream_id, chunk, i == last)
        if last < 0:
            self._send(stream_id, b"", True)

    def _head(self, stream_id: int, status: int, content_type: str, extra: Any, req: MockRequest,
              length: int | None) -> None:
        headers = [(b":status", str(status).encode()), (b"content-type", content_type.encode()),
                   (b"x-request-id", f"req_mock_{req.seq}".encode())]
        headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        self._h2.send_headers(stream_id, headers)

    def _send(self, stream_id: int, data: bytes, end: bool) -> None:
        queue = self._blocked.get(stream_id)
        if queue is not None:
            queue.append((data, end))
            return
        rest = self._push(stream_id, data, end)
        if rest is not None:
            self._blocked[stream_id] = [(rest, end)]

    def _push(self, stream_id: int, data: bytes, end: bool) -> bytes | None:
        """Send what the flow-control windows allow; the rest is returned."""
        conn = self._h2
        while True:
            window = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if len(data) <= window:
                if data or end:
                    conn.send_data(stream_id, data, end_stream=end)
                return None
            if window <= 0:
                return data
            conn.send_data(stream_id, data[:window])
            data = data[window:]

    def _unblock(self) -> None:
        for stream_id, queue in list(self._blocked.items()):
            try:
                while queue:
                    data, end = queue[0]
                    rest = self._push(stream_id, data, end)
                    if rest is not None:
                        queue[0] = (rest, end)
                        break
                    queue.pop(0)
            except h2.exceptions.StreamClosedError:
                queue.clear()
            if not queue:
                del self._blocked[stream_id]

    def _reset(self, stream_id: int) -> None:
        self._blocked.pop(stream_id, None)
        self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)

    def _forget(self, stream_id: int) -> None:
        self._requests.pop(stream_id, None)
        self._blocked.pop(stream_id, None)
        task = self._tasks.pop(stream_id, None)
        if task is not None:
            task.cancel()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)
