"""A small HTTP proxy on loopback for the egress tests: CONNECT tunnels (counted) and
absolute-form forwarding for plain http, optional Basic credentials, forbidden hosts.

``ConnectProxy`` runs on the caller's loop; ``ConnectProxyThread`` on its own, for
gateways started in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import urllib.parse
from typing import Any


class ConnectProxy:
    """``tunnels``: CONNECTs answered 200; ``refusals``: (status, target) answered otherwise;
    ``forwarded``: request lines relayed in absolute form; ``authorizations``: the
    ``Proxy-Authorization`` of each request (None when absent)."""

    def __init__(self, *, credentials: tuple[str, str] | None = None, forbid: frozenset[str] = frozenset()) -> None:
        self.credentials = credentials
        self.forbid = forbid
        self.tunnels = 0
        self.refusals: list[tuple[int, str]] = []
        self.forwarded: list[str] = []
        self.authorizations: list[str | None] = []
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{urllib.parse.quote(user)}:{urllib.parse.quote(password or '')}@" if user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        auth = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-authorization:")), None)
        self.authorizations.append(auth)
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if auth != expected:
                self.refusals.append((407, target))
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
                             b"content-length: 0\r\nconnection: close\r\n\r\n")
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if host in self.forbid:
                self.refusals.append((403, target))
                writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                return
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        # Plain http in absolute form: relay this one request, then close both sides.
        self.forwarded.append(lines[0])
        url = urllib.parse.urlsplit(target)
        length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
        body = await reader.readexactly(length) if length else b""
        kept = [h for h in headers if not h.lower().startswith(("proxy-authorization:", "connection:"))]
        path = url.path + (f"?{url.query}" if url.query else "")
        up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        up_writer.write("\r\n".join([f"{method} {path} HTTP/1.1", *kept, "connection: close", "", ""]).encode() + body)
        await _pipe(up_reader, writer)
        up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        if writer.can_write_eof():
            try:
                writer.write_eof()
            except OSError:
                pass


class ConnectProxyThread:
    """A ``ConnectProxy`` on its own event loop in a daemon thread."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="connect-proxy", daemon=True)
        self.proxy = ConnectProxy(**options)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10)
        return self.proxy

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.aclose(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
