"""Connection limits and read deadlines (server/connection.py), over raw sockets on loopback.

The gateway runs with short deadlines from its config (``header_timeout`` 0.4 s,
``body_timeout`` 0.6 s), so a slow client is cut off within a second; the trickling
clients below sleep between their bytes because slowness is the behaviour under test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import openai
import orjson
import pytest

from switchyard.server.runner import GatewayThread
from tests.server.raw_http import request

HEADER_TIMEOUT, BODY_TIMEOUT, KEEPALIVE = 0.4, 0.6, 0.5
MAX_HEADER_BYTES, MAX_HEADERS = 8192, 40
GOOD = orjson.dumps({"model": "fake/echo", "messages": [{"role": "user", "content": "still here"}]})


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayThread]:
    config = {
        "server": {"max_header_bytes": MAX_HEADER_BYTES, "max_headers": MAX_HEADERS, "header_timeout": HEADER_TIMEOUT,
                   "body_timeout": BODY_TIMEOUT, "keepalive_timeout": KEEPALIVE},
        "models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}},
    }
    with GatewayThread(config) as running:
        yield running


def _connect(gateway: GatewayThread, timeout: float = 5) -> socket.socket:
    parts = urlsplit(gateway.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset counts as closed)."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _head(path: str = "/v1/chat/completions", method: str = "POST", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n{extra}".encode()


def _status_and_error(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    assert b"connection: close" in head.lower(), head
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return status, orjson.loads(body)["error"]


def _dechunk(body: bytes) -> bytes:
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        length = int(size, 16)
        if not length:
            return out
        out, body = out + rest[:length], rest[length + 2:]


def assert_serving(gateway: GatewayThread) -> None:
    response = request(gateway.url, "POST", "/v1/chat/completions", GOOD, {"content-type": "application/json"})
    assert response.status == 200, response.body
    assert response.json()["choices"][0]["message"]["content"] == "still here"


def test_headers_over_the_size_limit_get_431(gateway):
    with _connect(gateway) as sock:
        sock.sendall(_head(extra=f"x-big: {'a' * (MAX_HEADER_BYTES + 100)}\r\ncontent-length: 2\r\n\r\n{{}}"))
        status, error = _status_and_error(_read_all(sock))
    assert status == 431
    assert error["code"] == "request_headers_too_large" and "server.max_header_bytes" in error["message"]
    assert_serving(gateway)


def test_headers_just_under_the_size_limit_are_served(gateway):
    padding = "a" * (MAX_HEADER_BYTES - 400)
    response = request(gateway.url, "POST", "/v1/chat/completions", GOOD,
                       {"content-type": "application/json", "x-pad": padding})
    assert response.status == 200, response.body


def test_a_huge_header_sent_in_pieces_is_refused_before_it_is_whole(gateway):
    """The server closes after about the limit: the client cannot send 32 MB."""
    sent = 0
    with _connect(gateway) as sock:
        sock.sendall(_head(extra="x-big: "))
        piece = b"a" * 65536
        with pytest.raises(OSError):  # reset or broken pipe once the server has hung up
            while sent < 32 * 1024 * 1024:
                sock.sendall(piece)
                sent += len(piece)
    assert sent < 8 * 1024 * 1024
    assert_serving(gateway)


def test_too_many_headers_get_431(gateway):
    many = "".join(f"x-h{i}: v\r\n" for i in range(MAX_HEADERS + 1))
    with _connect(gateway) as sock:
        sock.sendall(_head(extra=many + "content-length: 2\r\n\r\n{}"))
        status, error = _status_and_error(_read_all(sock))
    assert status == 431 and f"more than {MAX_HEADERS} headers" in error["message"]
    # at the limit (host and content-type count too) the request is served
    allowed = {f"x-h{i}": "v" for i in range(MAX_HEADERS - 6)}
    response = request(gateway.url, "POST", "/v1/chat/completions", GOOD, {"content-type": "application/json", **allowed})
    assert response.status == 200, response.body


def test_the_default_refuses_more_than_100_headers(start_gateway):
    gateway = start_gateway({"models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}})
    with _connect(gateway) as sock:
        sock.sendall(_head(extra="".join(f"x-h{i}: v\r\n" for i in range(150)) + "content-length: 2\r\n\r\n{}"))
        status, error = _status_and_error(_read_all(sock))
    assert status == 431 and "more than 100 headers" in error["message"]
    headers = {"content-type": "application/json", **{f"x-h{i}": "v" for i in range(90)}}
    assert request(gateway.url, "POST", "/v1/chat/completions", GOOD, headers).status == 200


def test_headers_trickled_byte_by_byte_are_cut_off_with_408(gateway):
    started = time.monotonic()
    with _connect(gateway) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n")
        try:
            for byte in b"x-slow: " + b"a" * 100:  # one byte every 50 ms: 5 s for the whole header
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
                if time.monotonic() - started > 5:
                    break
        except OSError:
            pass  # the server hung up while we were still sending
        status, error = _status_and_error(_read_all(sock))
    elapsed = time.monotonic() - started
    assert status == 408 and error["code"] == "request_timeout" and "server.header_timeout" in error["message"]
    assert HEADER_TIMEOUT <= elapsed < HEADER_TIMEOUT + 1.5, elapsed
    assert_serving(gateway)


def test_partial_headers_then_silence_are_cut_off(gateway):
    started = time.monotonic()
    with _connect(gateway) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gate")
        status, _ = _status_and_error(_read_all(sock))
    assert status == 408 and time.monotonic() - started < HEADER_TIMEOUT + 1.5


def test_a_connection_that_sends_nothing_is_closed(gateway):
    started = time.monotonic()
    with _connect(gateway) as sock:
        assert _read_all(sock) == b""
    assert HEADER_TIMEOUT <= time.monotonic() - started < HEADER_TIMEOUT + 1.5


def test_a_trickled_body_gets_408(gateway):
    started = time.monotonic()
    with _connect(gateway) as sock:
        sock.sendall(_head(extra=f"content-length: {len(GOOD)}\r\n\r\n"))
        try:
            for byte in GOOD:  # one byte every 50 ms: several seconds for the body
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass
        status, error = _status_and_error(_read_all(sock))
    assert status == 408 and error["code"] == "request_timeout" and "server.body_timeout" in error["message"]
    assert BODY_TIMEOUT <= time.monotonic() - started < BODY_TIMEOUT + 1.5
    assert_serving(gateway)


def test_a_body_that_stops_arriving_gets_408(gateway):
    started = time.monotonic()
    with _connect(gateway) as sock:
        sock.sendall(_head(extra=f"content-length: {len(GOOD)}\r\n\r\n") + GOOD[:10])
        status, error = _status_and_error(_read_all(sock))
    assert status == 408 and error["code"] == "request_timeout"
    assert BODY_TIMEOUT <= time.monotonic() - started < BODY_TIMEOUT + 1.5


def test_a_body_no_handler_reads_does_not_hold_the_connection(gateway):
    """GET /v1/models is answered at once; a body still trickling in after it (each byte would
    reset the keep-alive timer) is cut off by the body deadline."""
    started = time.monotonic()
    with _connect(gateway) as sock:
        sock.sendall(_head("/v1/models", "GET", "content-length: 1000\r\n\r\n"))
        answer = sock.recv(65536)
        try:
            for _ in range(100):  # one byte every 50 ms: 5 s
                sock.sendall(b"x")
                time.sleep(0.05)
        except OSError:
            pass
        assert _read_all(sock) == b""
    assert answer.startswith(b"HTTP/1.1 200") and b'"object":"list"' in answer
    assert BODY_TIMEOUT <= time.monotonic() - started < BODY_TIMEOUT + 1.5


def test_not_http_is_a_400_in_openai_shape(gateway):
    with _connect(gateway) as sock:
        sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        status, error = _status_and_error(_read_all(sock))
    assert status == 400 and error["code"] == "invalid_http" and error["type"] == "invalid_request_error"


def test_an_idle_keep_alive_connection_is_closed(gateway):
    started = time.monotonic()  # before the server's timer starts
    with _connect(gateway) as sock:
        sock.sendall(_head(extra=f"content-length: {len(GOOD)}\r\n\r\n") + GOOD)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        assert _read_all(sock) == b""
    assert KEEPALIVE <= time.monotonic() - started < KEEPALIVE + 1.5


def test_normal_clients_are_unaffected(gateway):
    """A keep-alive SDK client across requests, a stream longer than every deadline, a big body sent at speed."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="anything", max_retries=0, timeout=10)
    for _ in range(3):
        assert client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "again"}]
                                              ).choices[0].message.content == "again"
    words = " ".join(["word"] * 30)  # fake/slow: 0.2 s, then 0.05 s a word: about 1.7 s, past both deadlines
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model="fake/slow", stream=True, messages=[{"role": "user", "content": words}]) if chunk.choices)
    assert streamed.split() == words.split()
    big = "y" * 4_000_000
    reply = client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": big}])
    assert len(reply.choices[0].message.content) == len(big)
    client.close()


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_sixteen_clients_sending_32_mb_headers_leave_memory_flat(start_gateway_process):
    """The report: 16 concurrent 32 MB headers took RSS from 85 to 460 MB."""
    gateway = start_gateway_process({"models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}})
    assert gateway.process is not None
    parts = urlsplit(gateway.url)
    assert_serving(gateway)  # type: ignore[arg-type]
    before = _rss_kb(gateway.process.pid)
    answers: list[bytes | None] = []
    sent: list[int] = []

    def flood() -> None:
        total = 0
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            try:
                sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: gateway\r\nx-big: ")
                piece = b"a" * (1024 * 1024)
                while total < 32 * 1024 * 1024:
                    sock.sendall(piece)
                    total += len(piece)
                answers.append(_read_all(sock))
            except OSError:
                answers.append(None)  # closed on us mid-send: refused
        sent.append(total)

    threads = [threading.Thread(target=flood) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(sent) == 16
    after = _rss_kb(gateway.process.pid)
    assert after - before < 20_000, (before, after)  # kB
    assert all(answer is None or answer.startswith(b"HTTP/1.1 431") for answer in answers), answers
    assert max(sent) < 32 * 1024 * 1024  # nobody got their whole header in
    assert_serving(gateway)  # type: ignore[arg-type]


def _listen_backlog(port: int) -> int:
    """The accept queue's length of the socket listening on ``port`` (``ss`` shows it as Send-Q)."""
    import subprocess

    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


@pytest.mark.parametrize("configured", [None, 100])
def test_the_listen_backlog_is_the_configured_one(configured):
    """A burst of new connections (thousands of streams opening at once) waits in the kernel's
    accept queue: uvicorn's default of 2,048 overflowed at 4,000 streams, so the default is 4,096
    (the kernel caps it at net.core.somaxconn) and ``server.backlog`` sets it."""
    server = {} if configured is None else {"backlog": configured}
    config = {"server": server, "models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}}
    with GatewayThread(config) as running:
        port = urlsplit(running.url).port
        somaxconn = int(open("/proc/sys/net/core/somaxconn").read())
        assert _listen_backlog(port) == min(4096 if configured is None else configured, somaxconn)


def _responses(sock: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` responses' heads and content-length bodies, read off a kept-alive connection."""
    data, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, data = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:"))
        while len(data) < length:
            data += sock.recv(65536)
        out.append((head, data[:length]))
        data = data[length:]
    return out


def _one_response(sock: socket.socket) -> tuple[bytes, bytes]:
    return _responses(sock, 1)[0]


def test_a_unary_answer_is_one_content_length_response(gateway):
    """The head names the length once and the body follows it, without chunked framing."""
    with _connect(gateway) as sock:
        sock.sendall(_head(extra=f"content-length: {len(GOOD)}\r\n\r\n") + GOOD)
        head, body = _one_response(sock)
    lines = head.lower().split(b"\r\n")
    assert lines[0] == b"http/1.1 200 ok"
    assert sum(line.startswith(b"content-length:") for line in lines) == 1
    assert not any(line.startswith(b"transfer-encoding:") for line in lines)
    assert orjson.loads(body)["choices"][0]["message"]["content"] == "still here"


def test_pipelined_requests_are_answered_in_order(gateway):
    """Three requests in one write: three answers, in the order asked."""
    bodies = [orjson.dumps({"model": "fake/echo", "messages": [{"role": "user", "content": f"number {i}"}]})
              for i in range(3)]
    with _connect(gateway) as sock:
        sock.sendall(b"".join(_head(extra=f"content-length: {len(b)}\r\n\r\n") + b for b in bodies))
        answers = [body for _, body in _responses(sock, len(bodies))]
    assert [orjson.loads(a)["choices"][0]["message"]["content"] for a in answers] == [f"number {i}" for i in range(3)]


def test_expect_100_continue_gets_its_interim_answer(gateway):
    with _connect(gateway) as sock:
        sock.sendall(_head(extra=f"content-length: {len(GOOD)}\r\nexpect: 100-continue\r\n\r\n"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(GOOD)
        head, body = _one_response(sock)
    assert head.startswith(b"HTTP/1.1 200")
    assert orjson.loads(body)["choices"][0]["message"]["content"] == "still here"


def test_a_head_request_gets_the_head_only(gateway):
    with _connect(gateway) as sock:
        sock.sendall(b"HEAD /health/live HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n")
        answer = _read_all(sock)
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ")
    assert rest == b""


def test_a_header_value_with_a_line_break_is_never_written():
    """An app that puts CR LF in a header value gets an error, not a split response."""
    from types import SimpleNamespace

    from switchyard.core.config.server import ServerConfig
    from switchyard.server.connection import ConnectionGuard, Cycle, Http1

    class Transport:
        def __init__(self):
            self.written = []

        def write(self, data):
            self.written.append(data)

    loop = asyncio.new_event_loop()
    try:
        conn = Http1(SimpleNamespace(loaded_app=None), SimpleNamespace(connections=set(), tasks=set(), total_requests=0),
                     {}, _loop=loop, guard=ConnectionGuard(ServerConfig()))
        conn.transport = Transport()
        cycle = Cycle(conn, {"method": "GET"}, True, False)
        with pytest.raises(RuntimeError, match="header"):
            cycle._start(200, [(b"x-evil", b"a\r\nset-cookie: stolen=1")])
        assert conn.transport.written == []
    finally:
        loop.close()
