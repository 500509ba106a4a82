"""``stream(total_timeout=)`` bounds a streamed body as a whole with one timer:
a body that keeps trickling (never idle long enough for the idle bound) still
ends at the total bound, with ``UpstreamTimeout``."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchyard.core.errors import UpstreamTimeout
from switchyard.transport.client import HttpClient
from tests.transport.conftest import read_request


async def _trickle(reader, writer, server) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    for _ in range(100):  # 10 s of a piece every 0.1 s
        writer.write(b"1\r\nx\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
    writer.write(b"0\r\n\r\n")


async def test_total_timeout_ends_a_trickling_body(serve):
    server = await serve(_trickle)
    async with HttpClient() as client:
        received = b""
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as info:
            async with client.stream("POST", server.url, body=b"{}", timeout=30, total_timeout=0.6) as resp:
                async for piece in resp.aiter_bytes(idle_timeout=5):
                    received += piece
        elapsed = time.monotonic() - started
        assert 0.5 <= elapsed < 3, elapsed
        assert received.startswith(b"x") and "total deadline" in info.value.message
        assert client.pool_stats()[server.url]["idle"] == 0  # a cut body never goes back to the pool


async def test_a_body_that_ends_in_time_is_untouched_and_pooled(serve):
    async def quick(reader, writer, server):
        while await read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")

    server = await serve(quick)
    async with HttpClient() as client:
        async with client.stream("POST", server.url, body=b"{}", total_timeout=0.3) as resp:
            assert b"".join([p async for p in resp.aiter_bytes()]) == b"abc"
        await asyncio.sleep(0.5)  # past the bound: the cancelled timer must not touch the pooled connection
        assert client.pool_stats()[server.url] == {"open": 1, "idle": 1}
        assert (await client.request("GET", server.url)).status == 200
