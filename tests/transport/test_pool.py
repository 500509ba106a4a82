"""The connection pool: a body read past its last event in the background, then
pooled (bounded in time and size); waiting for a free connection, heard and bounded;
one idle timer per exchange."""

from __future__ import annotations

import asyncio

import pytest

from switchyard.core.errors import ConnectionPoolFull, UpstreamTimeout
from switchyard.transport import pool as pool_module
from switchyard.transport.client import HttpClient

from .conftest import read_request

HEAD = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
LAST = b"data: [DONE]\n\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _ends_late(after: float, tail: bytes = b"", rest: int = 1):
    """Each answer: one event, the last one, then ``tail`` after ``after`` seconds,
    then the end of the body; ``rest`` answers per connection."""

    async def handler(reader, writer, server) -> None:
        for _ in range(rest):
            if await read_request(reader) is None:
                return
            writer.write(HEAD + _chunk(LAST))
            await writer.drain()
            await asyncio.sleep(after)
            if tail:
                writer.write(_chunk(tail))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        await reader.read()  # until the client closes

    return handler


async def _first_event(client: HttpClient, url: str, *, stop: bool = True) -> bytes:
    """Read up to the last event, then leave the block (saying so when ``stop``)."""
    async with client.stream("POST", url, body=b"{}", timeout=5) as resp:
        async for piece in resp.aiter_bytes(idle_timeout=5):
            if LAST in piece:
                if stop:
                    resp.stop_reading()
                return piece
    raise AssertionError("no last event")


async def _until(predicate, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_a_body_ending_after_its_last_event_is_read_to_the_end_and_pooled(serve):
    server = await serve(_ends_late(0.05, rest=5))
    async with HttpClient() as client:
        for _ in range(5):
            assert await _first_event(client, server.url) == LAST
            stats = client.pool_stats()[server.url]
            assert stats["open"] == 1  # still the one connection, being drained or idle
            await _until(lambda: client.pool_stats()[server.url]["idle"] == 1)
    assert server.connections == 1


async def test_a_reader_that_leaves_without_saying_it_is_done_closes_the_connection(serve):
    server = await serve(_ends_late(0.05, rest=2))
    async with HttpClient() as client:
        await _first_event(client, server.url, stop=False)
        assert client.pool_stats()[server.url] == {"open": 0, "idle": 0}
        await _first_event(client, server.url, stop=False)
    assert server.connections == 2


async def test_a_body_that_does_not_end_promptly_is_closed(serve, monkeypatch):
    monkeypatch.setattr(pool_module, "DRAIN_SECONDS", 0.2)
    server = await serve(_ends_late(3.0, rest=2))
    async with HttpClient() as client:
        await _first_event(client, server.url)
        await _until(lambda: client.pool_stats()[server.url]["open"] == 0, 2.0)
        await _first_event(client, server.url)
    assert server.connections == 2


async def test_a_body_with_too_much_after_its_last_event_is_closed(serve, monkeypatch):
    monkeypatch.setattr(pool_module, "DRAIN_BYTES", 1000)
    server = await serve(_ends_late(0.01, tail=b"x" * 5000, rest=2))
    async with HttpClient() as client:
        await _first_event(client, server.url)
        await _until(lambda: client.pool_stats()[server.url]["open"] == 0, 2.0)
        assert client.pool_stats()[server.url]["idle"] == 0
        await _first_event(client, server.url)
    assert server.connections == 2


async def test_a_wait_for_a_free_connection_is_heard_and_a_drained_connection_ends_it(serve):
    server = await serve(_ends_late(0.3, rest=2))
    heard: list[bool] = []
    async with HttpClient(max_connections_per_origin=1, pool_timeout=5) as client:
        await _first_event(client, server.url)  # drained for 0.3 s: the only connection is busy
        async with client.stream("POST", server.url, body=b"{}", timeout=5, on_pool_wait=heard.append) as resp:
            assert await resp.aread() == LAST
    assert heard == [True, False]
    assert server.connections == 1


async def test_no_wait_no_word(serve):
    server = await serve(_ends_late(0.0, rest=1))
    heard: list[bool] = []
    async with HttpClient() as client:
        async with client.stream("POST", server.url, body=b"{}", timeout=5, on_pool_wait=heard.append) as resp:
            await resp.aread()
    assert heard == []


async def test_a_full_pool_tells_the_waiter_it_gave_up(serve):
    server = await serve(_ends_late(10.0, rest=1))
    heard: list[bool] = []
    async with HttpClient(max_connections_per_origin=1, pool_timeout=0.1) as client:
        async with client.stream("POST", server.url, body=b"{}", timeout=5):
            with pytest.raises(ConnectionPoolFull) as info:
                async with client.stream("POST", server.url, body=b"{}", timeout=5, on_pool_wait=heard.append):
                    pass
    assert heard == [True, False]
    assert info.value.code == "connection_pool_full" and info.value.status == 503


def test_child_clients_validate_their_limits():
    parent = HttpClient()
    with pytest.raises(ValueError, match="max_connections_per_origin"):
        parent.child(max_connections_per_origin=0, pool_timeout=1)
    with pytest.raises(ValueError, match="pool_timeout"):
        parent.child(max_connections_per_origin=1, pool_timeout=0)


async def test_closing_a_client_closes_its_children(serve):
    server = await serve(_ends_late(0.0, rest=1))
    parent = HttpClient()
    child = parent.child(max_connections_per_origin=2, pool_timeout=1)
    async with child.stream("POST", server.url, body=b"{}", timeout=5) as resp:
        await resp.aread()
    assert child.pool_stats()[server.url]["idle"] == 1
    await parent.aclose()
    assert child.pool_stats() == {}
    with pytest.raises(RuntimeError, match="closed"):
        await child.request("GET", server.url)


async def test_the_idle_bound_is_per_wait_however_long_the_body(serve):
    # Pieces every 0.05 s for 0.6 s, then a stall: one idle timer per exchange
    # must neither fire during the steady part (0.6 s > idle 0.2 s) nor miss the stall.
    async def trickle_then_stall(reader, writer, server):
        await read_request(reader)
        writer.write(HEAD)
        for _ in range(12):
            writer.write(_chunk(b"x"))
            await writer.drain()
            await asyncio.sleep(0.05)
        await asyncio.sleep(3)

    server = await serve(trickle_then_stall)
    async with HttpClient() as client:
        received = b""
        loop = asyncio.get_running_loop()
        with pytest.raises(UpstreamTimeout, match="no data"):
            async with client.stream("POST", server.url, body=b"{}", timeout=5) as resp:
                async for piece in resp.aiter_bytes(idle_timeout=0.2):
                    received += piece
                    last = loop.time()
        assert received == b"x" * 12
        assert 0.15 <= loop.time() - last < 1.0

