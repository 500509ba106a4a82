"""HTTP/2 to upstreams (``http2: true``): many exchanges on one connection, streams
read as they arrive with flow control, a timeout or a drop that ends one stream
only, a refused stream sent again, and HTTP/1.1 where h2 is not on offer."""

from __future__ import annotations

import asyncio

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import orjson
import pytest

from switchyard.core.errors import UpstreamProtocolError, UpstreamTimeout
from switchyard.mock import MockUpstream
from switchyard.transport.dial import Egress
from switchyard.transport.http2 import Http2Client
from switchyard.transport.sse import SSEDecoder
from switchyard.transport.tls import TLSOptions

JSON = {"Content-Type": "application/json", "Authorization": "Bearer sk-up"}


def body(content: str, **extra) -> bytes:
    return orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra})


def h2_client(certs, **options) -> Http2Client:
    return Http2Client(egress=Egress(TLSOptions(ca_file=certs.ca_file), http2=True), **options)


async def test_concurrent_requests_share_one_connection(certs):
    async with MockUpstream(ssl=certs.server_context(), http2=True) as mock, h2_client(certs) as client:
        responses = await asyncio.gather(*(
            client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=body(f"n{i}"), timeout=10)
            for i in range(64)))
        stats = client.pool_stats()
    assert [r.json()["choices"][0]["message"]["content"] for r in responses] == [f"n{i}" for i in range(64)]
    assert responses[0].headers["content-type"] == "application/json" and "x-request-id" in responses[0].headers
    assert mock.connections == 1 and mock.tls_handshakes == 1
    assert stats == {f"https://127.0.0.1:{mock.port}": {"open": 1, "streams": 0}}
    assert mock.requests[-1].headers["authorization"] == "Bearer sk-up"  # names lower-cased, values kept


async def test_a_stream_arrives_in_pieces_before_it_ends(certs):
    async with MockUpstream(ssl=certs.server_context(), http2=True, chunk_delay_ms=30) as mock, \
            h2_client(certs) as client:
        async with client.stream("POST", mock.base_url + "/chat/completions", headers=JSON, timeout=10,
                                 body=body("one two three four", stream=True)) as response:
            assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
            decoder, reads, texts = SSEDecoder(), 0, []
            async for piece in response.aiter_bytes(idle_timeout=5):
                reads += 1
                for event in decoder.feed(piece):
                    if event.data != "[DONE]":
                        texts.extend(c["delta"].get("content", "") for c in orjson.loads(event.data)["choices"])
    assert "".join(texts).split() == ["one", "two", "three", "four"]
    assert reads > 3  # paced by the upstream, read as it came


async def test_a_stream_longer_than_the_window_is_read_whole(certs):
    """More than the 1 MiB the client announces per stream: the reader hands the window
    back as it reads, else the upstream would stall and the idle timeout fire."""
    words = " ".join(f"w{i:06d}" for i in range(250_000))  # ~2 MB echoed back
    async with MockUpstream(ssl=certs.server_context(), http2=True) as mock, h2_client(certs) as client:
        async with client.stream("POST", mock.base_url + "/chat/completions", headers=JSON, timeout=10,
                                 body=body(words, stream=True)) as response:
            size = 0
            async for piece in response.aiter_bytes(idle_timeout=5):
                size += len(piece)
                await asyncio.sleep(0)  # a reader slower than the socket
        again = await client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=body(words))
    assert size > 2_000_000
    assert again.json()["choices"][0]["message"]["content"] == words  # a 2 MB request body, sent by window
    assert mock.connections == 1


async def test_a_timeout_resets_its_stream_and_the_connection_serves_on(certs):
    async with MockUpstream(ssl=certs.server_context(), http2=True) as mock, h2_client(certs) as client:
        url = mock.base_url + "/chat/completions"
        hung = asyncio.ensure_future(client.request("POST", url, headers={**JSON, "x-mock-hang": "1"},
                                                    body=body("hang"), timeout=0.3))
        fine = await client.request("POST", url, headers=JSON, body=body("fine"), timeout=10)
        with pytest.raises(UpstreamTimeout, match=r"timed out after 0\.3s"):
            await hung
        after = await client.request("POST", url, headers=JSON, body=body("after"), timeout=10)
        assert client.pool_stats()[mock.url]["streams"] == 0
    assert fine.status == after.status == 200 and mock.connections == 1


async def test_a_stream_dropped_midway_is_a_protocol_error_for_that_stream_only(certs):
    async with MockUpstream(ssl=certs.server_context(), http2=True) as mock, h2_client(certs) as client:
        url = mock.base_url + "/chat/completions"
        with pytest.raises(UpstreamProtocolError, match=r"reset the stream \(INTERNAL_ERROR\)"):
            async with client.stream("POST", url, headers={**JSON, "x-mock-drop-after-chunks": "2"},
                                     body=body("a b c d e", stream=True), timeout=10) as response:
                async for _ in response.aiter_bytes(idle_timeout=5):
                    pass
        assert (await client.request("POST", url, headers=JSON, body=body("next"))).status == 200
    assert mock.connections == 1


async def test_leaving_a_stream_early_frees_its_slot(certs):
    async with MockUpstream(ssl=certs.server_context(), http2=True, chunk_delay_ms=50) as mock, \
            h2_client(certs, max_connections_per_origin=1) as client:
        url = mock.base_url + "/chat/completions"
        async with client.stream("POST", url, headers=JSON, body=body("a b c d e f", stream=True)) as response:
            async for _ in response.aiter_bytes(idle_timeout=5):
                break
        assert client.pool_stats()[mock.url]["streams"] == 0
        assert (await client.request("POST", url, headers=JSON, body=body("next"), timeout=10)).status == 200


async def test_a_server_without_h2_is_spoken_to_in_http1(certs):
    async with MockUpstream(ssl=certs.server_context()) as mock, h2_client(certs) as client:
        for _ in range(3):
            response = await client.request("POST", mock.base_url + "/chat/completions", headers=JSON, body=body("x"))
            assert response.status == 200
        async with client.stream("POST", mock.base_url + "/chat/completions", headers=JSON,
                                 body=body("y", stream=True)) as streamed:
            assert b"[DONE]" in await streamed.aread()
        stats = client.pool_stats()
    # One handshake offered h2 and was answered in HTTP/1.1; the HTTP/1.1 pool took over.
    assert stats == {f"https://127.0.0.1:{mock.port}": {"open": 1, "idle": 1}}
    assert mock.connections == 2


async def test_plain_http_urls_go_over_http1(certs):
    async with MockUpstream() as mock, h2_client(certs) as client:
        assert (await client.request("GET", mock.url + "/v1/models")).status == 200
        assert client.pool_stats() == {f"http://127.0.0.1:{mock.port}": {"open": 1, "idle": 1}}


class ScriptedH2Server:
    """Answers h2 requests with 200 ``ok``, but refuses (REFUSED_STREAM) or GOAWAYs
    the first ``refuse`` ones unprocessed, never answers ``/hang``, and allows
    ``max_streams`` at once."""

    def __init__(self, context, how: str = "refuse", refuse: int = 0, max_streams: int = 100) -> None:
        context.set_alpn_protocols(["h2"])
        self.context = context
        self.how = how
        self.refuse = refuse
        self.max_streams = max_streams
        self.connections = 0
        self.answered = 0

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader, writer):
        self.connections += 1
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        paths: dict[int, bytes] = {}
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        paths[event.stream_id] = dict(event.headers)[b":path"]
                    if isinstance(event, h2.events.StreamEnded) and paths.get(event.stream_id) == b"/hang":
                        continue
                    if isinstance(event, h2.events.StreamEnded):
                        if self.refuse > 0:
                            self.refuse -= 1
                            if self.how == "refuse":
                                conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                            else:
                                conn.close_connection(last_stream_id=0)
                            continue
                        self.answered += 1
                        conn.send_headers(event.stream_id, [(":status", "200"), ("content-length", "2")])
                        conn.send_data(event.stream_id, b"ok", end_stream=True)
                writer.write(conn.data_to_send())
                await writer.drain()
        finally:
            writer.close()

    async def aclose(self):
        self.server.close()


@pytest.mark.parametrize("how", ["refuse", "goaway"])
async def test_a_request_the_server_did_not_process_is_sent_once_more(certs, how):
    server = await ScriptedH2Server(certs.server_context(), how, refuse=1).start()
    try:
        async with h2_client(certs) as client:
            response = await client.request("POST", server.url + "/v1/x", headers=JSON, body=b"{}", timeout=10)
    finally:
        await server.aclose()
    assert response.status == 200 and response.content == b"ok" and server.answered == 1
    assert server.connections == (1 if how == "refuse" else 2)


async def test_refused_twice_is_an_error(certs):
    server = await ScriptedH2Server(certs.server_context(), "refuse", refuse=2).start()
    try:
        async with h2_client(certs) as client:
            with pytest.raises(UpstreamProtocolError, match="refused the request twice"):
                await client.request("POST", server.url + "/v1/x", body=b"{}", timeout=10)
    finally:
        await server.aclose()


async def test_beyond_the_servers_stream_limit_requests_wait_for_a_free_stream(certs):
    server = await ScriptedH2Server(certs.server_context(), max_streams=2).start()
    try:
        async with h2_client(certs, max_connections_per_origin=1) as client:
            await client.request("GET", server.url + "/warm-up", timeout=10)  # the server's SETTINGS are known
            hung = [asyncio.ensure_future(client.request("GET", server.url + "/hang", timeout=30)) for _ in range(2)]
            for _ in range(10_000):  # until both are on the wire (a loop turn each, bounded)
                if client.pool_stats()[server.url]["streams"] == 2:
                    break
                await asyncio.sleep(0)
            assert client.pool_stats()[server.url]["streams"] == 2
            with pytest.raises(UpstreamTimeout, match="timed out waiting for a free stream"):
                await client.request("GET", server.url + "/x", timeout=0.3)
            waiting = asyncio.ensure_future(client.request("GET", server.url + "/y", timeout=30))
            for _ in range(100):  # loop turns, not time: it has no slot, so nothing goes out
                await asyncio.sleep(0)
            assert not waiting.done() and server.answered == 1
            hung[0].cancel()  # its stream is reset: the waiting request takes the slot
            assert (await waiting).content == b"ok"
            hung[1].cancel()
            await asyncio.gather(*hung, return_exceptions=True)
    finally:
        await server.aclose()
    assert server.connections == 1
