"""HTTP fetch of allowed hosts: a loopback server on the allow-list answers; everything else is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from switchyard.core.config.mcp import FetchService
from switchyard.mcp.builtin.fetch import Fetcher, FetchRefused


class _Pages(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/hello":
            body = b"hello from loopback"
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/big":  # declares its size
            self.send_response(200)
            self.send_header("content-length", "5000")
            self.end_headers()
            self.wfile.write(b"x" * 5000)
        elif self.path == "/big-chunked":  # does not: counted while read
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/elsewhere":
            self.send_response(302)
            self.send_header("location", "http://localhost.invalid/secret")
            self.send_header("content-length", "0")
            self.end_headers()
        elif self.path == "/home":
            self.send_response(302)
            self.send_header("location", "/hello")
            self.send_header("content-length", "0")
            self.end_headers()
        elif self.path == "/hang":
            self.release.wait(10)
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    _Pages.release.set()
    server.shutdown()


@pytest.fixture
def fetcher(site: str) -> Fetcher:
    return Fetcher(FetchService(allow_hosts=[site], max_bytes=2048, timeout=0.5))


async def test_an_allowed_host_answers(fetcher, site):
    page = await fetcher.get(f"http://{site}/hello")
    assert page == {"url": f"http://{site}/hello", "status": 200, "content_type": "text/plain; charset=utf-8",
                    "text": "hello from loopback"}
    followed = await fetcher.get(f"http://{site}/home")
    assert followed["text"] == "hello from loopback" and followed["url"].endswith("/hello")


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.2:1/x", "host '127.0.0.2:1' is not on mcp.builtins.fetch.allow_hosts"),
    ("http://example.com/", "host 'example.com' is not on"),
    ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ("ftp://SITE/x", "scheme 'ftp' is not allowed"),
    ("http://user:pw@SITE/hello", "credentials in the URL are not allowed"),
    ("http:///nohost", "has no host"),
    ("", "must be a non-empty string"),
    ("http://SITE:99999/", "not a valid URL"),
])
async def test_it_refuses_urls(fetcher, site, url, reason):
    with pytest.raises(FetchRefused) as refused:
        await fetcher.get(url.replace("SITE", site))
    assert reason in str(refused.value)


@pytest.mark.parametrize(("path", "reason"), [
    ("/big", "the body is 5000 bytes; the limit is 2048"),
    ("/big-chunked", "over the limit of 2048 bytes"),
    ("/elsewhere", "host 'localhost.invalid' is not on"),
    ("/hang", "no complete answer within 0.5 s"),
])
async def test_it_refuses_answers(fetcher, site, path, reason):
    with pytest.raises(FetchRefused) as refused:
        await fetcher.get(f"http://{site}{path}")
    assert reason in str(refused.value)
