"""Scripted loopback HTTP servers for the transport tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "ScriptedServer"], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One request's head and body, or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head, body


def ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%b\r\n%b" % (len(body), extra, body)


class ScriptedServer:
    """An ``asyncio.start_server`` whose per-connection behaviour is a test's coroutine."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.requests: list[bytes] = []
        self.server: asyncio.AbstractServer | None = None
        self.closed_by_client = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def start(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self.server.close()  # type: ignore[union-attr]


@pytest.fixture
async def serve():
    servers: list[ScriptedServer] = []

    async def start(handler: Handler) -> ScriptedServer:
        server = await ScriptedServer(handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def keep_alive_ok(reader, writer, server) -> None:
    """Answer every request on the connection with 200 ``hello``."""
    while (req := await read_request(reader)) is not None:
        server.requests.append(req[0] + req[1])
        writer.write(ok())
        await writer.drain()
