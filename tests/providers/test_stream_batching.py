"""Chunks that arrive in one network read leave marked ``more`` (all but the last).

Each adapter family streams from a loopback server that answers with the mock
upstream's own wire-format handler, but writes the whole streamed answer in
one socket write: the adapter then reads every event at once, and every chunk
but the last of that read must say ``more`` (the server writes them to the
client together). Chunks produced after the upstream closed (Gemini and
Cohere report usage then) form a read of their own.
"""

from __future__ import annotations

import asyncio

import pytest

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamUnavailable
from switchyard.core.messages import Chunk, validate_chat
from switchyard.core.registry import Registry
from switchyard.mock.wire import MockRequest, MockSettings, Reply, RouteTable
from switchyard.providers.driver import batched
from switchyard.transport.client import HttpClient
from tests.providers.conformance import ADAPTERS, mock_formats

#: One adapter per family, and how many chunks it makes after the upstream closed.
FAMILIES = {"openai": 0, "anthropic": 0, "bedrock": 0, "ollama_chat": 0, "gemini": 1, "cohere": 1}


class OneWriteUpstream:
    """A loopback HTTP server answering with the mock's handlers, each answer in one write."""

    def __init__(self) -> None:
        self.routes = RouteTable([route for table in mock_formats() for route in table])
        self.settings = MockSettings(stream_chunks=5)
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def __aenter__(self) -> OneWriteUpstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            path, _, query = target.partition("?")
            request = MockRequest(method, path, query, headers, body)
            route, request.params, _ = self.routes.match(method, path)
            assert route is not None, f"no mock route for {method} {path}"
            reply = route.handler(request, self.settings)
            payload = reply.body if isinstance(reply, Reply) else b"".join(reply.chunks)
            writer.write(b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                         % (reply.status, reply.content_type.encode(), len(payload), payload))
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def http():
    client = HttpClient()
    yield client
    await client.aclose()


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if a.id in FAMILIES], ids=lambda a: a.id)
async def test_chunks_of_one_read_are_marked_more(adapter, http):
    async with OneWriteUpstream() as upstream:
        config = DeploymentConfig.model_validate(adapter.deployment(upstream))
        provider = Registry(use_entry_points=False).get(adapter.provider)(config, http)
        request = validate_chat({"model": "alias", "stream": True, "stream_options": {"include_usage": True},
                                 "messages": [{"role": "user", "content": "one two three four five six seven"}]})
        stream = await provider.stream(request, Call(request_id="batching"))
        try:
            chunks = [chunk async for chunk in stream]
        finally:
            await stream.aclose()
    after_close = FAMILIES[adapter.id]
    assert len(chunks) >= 5 + after_close
    assert [c.more for c in chunks] == [True] * (len(chunks) - 1 - after_close) + [False] * (1 + after_close)
    assert chunks[-1].usage is not None


def _chunks_then_error(n: int):
    for i in range(n):
        yield Chunk(data={"i": i})
    raise UpstreamUnavailable("error event")


def test_batched_delivers_the_chunk_held_back_before_an_error():
    seen = []
    with pytest.raises(UpstreamUnavailable):
        for chunk in batched(_chunks_then_error(3)):
            seen.append((chunk.data["i"], chunk.more))
    assert seen == [(0, True), (1, True), (2, False)]


def test_batched_leaves_a_lone_chunk_unmarked():
    assert [c.more for c in batched([Chunk(data={})])] == [False]
    assert list(batched([])) == []
