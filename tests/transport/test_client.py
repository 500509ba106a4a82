import asyncio
import socket
import time

import pytest

from switchyard.core.errors import ConnectionPoolFull, UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from switchyard.transport import HttpClient
from switchyard.transport.headers import Headers

from .conftest import keep_alive_ok, ok, read_request


async def test_content_length_response_and_keep_alive_reuse(serve):
    server = await serve(keep_alive_ok)
    async with HttpClient() as client:
        for _ in range(3):
            resp = await client.request("POST", server.url + "/v1/x?a=1", headers={"X-Key": "v"}, body=b"{}")
            assert resp.status == 200
            assert resp.content == b"hello"
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/x?a=1 HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1:" in first and b"Content-Length: 2\r\n" in first and first.endswith(b"{}")


async def test_headers_are_case_insensitive_and_keep_repeats(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        writer.write(ok(b"{\"a\": 1}", b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Type: application/json\r\n"))

    server = await serve(handler)
    async with HttpClient() as client:
        resp = await client.request("GET", server.url)
    assert resp.headers.get("content-type") == "application/json"
    assert resp.headers["CONTENT-TYPE"] == "application/json"
    assert resp.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert resp.json() == {"a": 1}


def test_headers_select_decodes_only_what_is_asked_and_caches_nothing():
    headers = Headers.from_items([("X-Request-Id", "a"), ("Set-Cookie", "s"), ("x-request-id", "b")])
    assert headers.select({"x-request-id": "request-id", "absent": "x"}) == {"request-id": "b"}
    assert headers._items is None
    headers.items()
    assert headers.select({"set-cookie": "cookie"}) == {"cookie": "s"}

async def test_chunked_response(serve):
    async def handler(reader, writer, server):
        while await read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    server = await serve(handler)
    async with HttpClient() as client:
        assert (await client.request("GET", server.url)).content == b"hello world"
        assert (await client.request("GET", server.url)).content == b"hello world"
    assert server.connections == 1


async def test_body_delimited_by_close(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        await writer.drain()

    server = await serve(handler)
    async with HttpClient() as client:
        resp = await client.request("GET", server.url)
        assert resp.content == b"until the end"
        assert client.pool_stats()[server.url.replace("http://", "http://")]["open"] == 0


async def test_connection_close_is_not_reused(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        writer.write(ok(extra=b"connection: close\r\n"))

    server = await serve(handler)
    async with HttpClient() as client:
        for _ in range(2):
            assert (await client.request("GET", server.url)).status == 200
    assert server.connections == 2


async def test_stale_reused_connection_is_retried_once_on_a_new_one(serve):
    async def handler(reader, writer, server):
        # Answer the first request, then close on the next without a byte: the
        # server timed the idle connection out just as the client reused it.
        await read_request(reader)
        writer.write(ok(b"first" if server.connections == 1 else b"fresh"))
        await writer.drain()
        await read_request(reader)

    server = await serve(handler)
    async with HttpClient() as client:
        assert (await client.request("POST", server.url, body=b"1")).content == b"first"
        assert (await client.request("POST", server.url, body=b"2")).content == b"fresh"
    assert server.connections == 2


async def test_fresh_connection_closed_without_answer_is_an_error(serve):
    async def handler(reader, writer, server):
        await read_request(reader)

    server = await serve(handler)
    async with HttpClient() as client:
        with pytest.raises(UpstreamProtocolError):
            await client.request("POST", server.url, body=b"x")
    assert server.connections == 1


async def test_peer_closing_mid_body_is_a_protocol_error(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")

    server = await serve(handler)
    async with HttpClient() as client:
        with pytest.raises(UpstreamProtocolError, match="mid-response"):
            await client.request("GET", server.url)


async def test_garbage_is_a_protocol_error(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        writer.write(b"this is not http at all\r\n\r\n")
        await reader.read()

    server = await serve(handler)
    async with HttpClient() as client:
        with pytest.raises(UpstreamProtocolError, match="malformed"):
            await client.request("GET", server.url)


async def test_read_timeout_never_leaks_headers(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        await reader.read()  # never answer

    server = await serve(handler)
    async with HttpClient() as client:
        with pytest.raises(UpstreamTimeout) as info:
            await client.request("GET", server.url + "/p?key=sk-in-query", headers={"authorization": "Bearer sk-secret"}, timeout=0.1)
        assert client.pool_stats()[server.url]["open"] == 0
    assert "sk-secret" not in str(info.value) and "sk-in-query" not in str(info.value)


async def test_connect_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        async with HttpClient() as client:
            with pytest.raises(UpstreamConnectError) as info:
                await client.request("GET", f"http://127.0.0.1:{port}/", headers={"api-key": "sk-secret"})
    assert "sk-secret" not in str(info.value)


async def test_connect_timeout_when_the_backlog_is_full():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue; later SYNs are dropped
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        async with HttpClient(connect_timeout=0.2) as client:
            with pytest.raises(UpstreamTimeout, match="connect"):
                await client.request("GET", f"http://127.0.0.1:{port}/")
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_pool_limit_makes_requests_wait(serve):
    release, two_in = asyncio.Event(), asyncio.Event()

    async def handler(reader, writer, server):
        while await read_request(reader):
            server.requests.append(b"")
            if len(server.requests) == 2:
                two_in.set()
            await release.wait()
            writer.write(ok())

    server = await serve(handler)
    async with HttpClient(max_connections_per_origin=2) as client:
        tasks = [asyncio.create_task(client.request("GET", server.url)) for _ in range(5)]
        await two_in.wait()
        assert client.pool_stats()[server.url]["open"] == 2
        assert len(server.requests) == 2
        release.set()
        results = await asyncio.gather(*tasks)
    assert [r.status for r in results] == [200] * 5
    assert server.connections == 2 and server.max_open == 2


async def test_waiting_for_a_connection_is_bounded_by_the_pool_not_the_call_timeout(serve):
    got_first = asyncio.Event()

    async def handler(reader, writer, server):
        await read_request(reader)
        got_first.set()
        await reader.read()

    server = await serve(handler)
    async with HttpClient(max_connections_per_origin=1, pool_timeout=0.3) as client:
        blocker = asyncio.create_task(client.request("GET", server.url))
        await got_first.wait()
        started = time.monotonic()
        with pytest.raises(ConnectionPoolFull, match="all 1 the gateway may open are busy") as info:
            await client.request("GET", server.url, timeout=0.05)  # the upstream's time: not spent waiting
        assert 0.25 <= time.monotonic() - started < 2
        assert info.value.status == 503 and info.value.retry_after == 1.0 and info.value.local
        with pytest.raises(ConnectionPoolFull):  # the call's total bound caps the wait too
            await client.request("GET", server.url, total_timeout=0.05)
        assert time.monotonic() - started < 2
        blocker.cancel()


async def test_stream_reads_chunks_and_reuses_a_finished_connection(serve):
    async def handler(reader, writer, server):
        while await read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for part in (b"a", b"bb", b"ccc"):
                writer.write(b"%x\r\n%b\r\n" % (len(part), part))
                await writer.drain()
            writer.write(b"0\r\n\r\n")

    server = await serve(handler)
    async with HttpClient() as client:
        for _ in range(2):
            async with client.stream("POST", server.url, body=b"{}") as resp:
                assert resp.status == 200
                assert b"".join([c async for c in resp.aiter_bytes()]) == b"abbccc"
        assert client.pool_stats()[server.url] == {"open": 1, "idle": 1}
    assert server.connections == 1


async def test_leaving_a_stream_early_closes_its_connection(serve):
    async def handler(reader, writer, server):
        while await read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            if server.connections == 1:
                await reader.read()  # the rest never comes
            else:
                writer.write(b"0\r\n\r\n")

    server = await serve(handler)
    async with HttpClient() as client:
        async with client.stream("GET", server.url) as resp:
            async for chunk in resp.aiter_bytes():
                assert chunk == b"first"
                break
        assert client.pool_stats()[server.url]["open"] == 0
        async with client.stream("GET", server.url) as resp:
            assert await resp.aread() == b"first"
    assert server.connections == 2


async def test_stream_idle_timeout(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n")
        await reader.read()

    server = await serve(handler)
    async with HttpClient() as client:
        async with client.stream("GET", server.url) as resp:
            with pytest.raises(UpstreamTimeout, match="no data"):
                async for _ in resp.aiter_bytes(idle_timeout=0.1):
                    pass


async def test_stream_dropped_mid_body_raises(serve):
    async def handler(reader, writer, server):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n")

    server = await serve(handler)
    async with HttpClient() as client:
        async with client.stream("GET", server.url) as resp:
            with pytest.raises(UpstreamProtocolError):
                await resp.aread()


async def test_header_injection_is_refused_without_echoing_the_value(serve):
    server = await serve(keep_alive_ok)
    async with HttpClient() as client:
        with pytest.raises(ValueError) as info:
            await client.request("GET", server.url, headers={"authorization": "Bearer sk-x\r\nevil: 1"})
    assert "sk-x" not in str(info.value)
