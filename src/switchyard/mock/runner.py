"""Ways to run the mock upstream: blocking (the CLI), in a background thread (sync tests)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

from switchyard.mock.server import MockUpstream

_FAULT_KNOBS = frozenset({"status", "retry_after", "latency_ms", "end_delay_ms", "drop_after_chunks", "garbage", "hang"})


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else the default one."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_mock_upstream(host: str = "127.0.0.1", port: int = 8100, **options: Any) -> None:
    """Serve the mock upstream until interrupted (what ``switchyard mock-upstream`` calls).

    Keyword options, one CLI flag each:

        api_key: str          --api-key        require this key (Bearer, or api-key on Azure paths)
        text: str             --text           answer with this text instead of echoing
        stream_chunks: int    --stream-chunks  content deltas per stream (default 20)
        chunk_delay_ms: float --chunk-delay-ms pause between streamed chunks (default 0)
        embedding_dims: int   --embedding-dims default embedding size (default 64)
        models: list[str]     --model (repeat)  what /v1/models lists
        chunks: int                            alias of stream_chunks
        certfile, keyfile     --tls-cert, --tls-key  serve HTTPS with this PEM certificate and key
        http2: bool           --http2          offer HTTP/2 (by ALPN; needs the certificate)

    Any fault knob (``status``, ``retry_after``, ``latency_ms``, ``end_delay_ms``,
    ``drop_after_chunks``, ``garbage``, ``hang``) applies to every request;
    faults can also be chosen per request, per model or through
    ``POST /_mock/faults`` (see ``switchyard.mock.faults``). Prints one
    ``listening on URL`` line.
    """
    if "chunks" in options:
        options["stream_chunks"] = options.pop("chunks")
    knobs = {k: options.pop(k) for k in list(options) if k in _FAULT_KNOBS}
    certfile, keyfile = options.pop("certfile", None), options.pop("keyfile", None)
    if certfile is not None:
        options["ssl"] = server_context(certfile, keyfile)
    elif options.get("http2"):
        raise ValueError("--http2 needs --tls-cert: HTTP/2 is offered by ALPN in the TLS handshake")
    loop = new_event_loop()

    async def serve() -> None:
        mock = MockUpstream(host=host, port=port, **options)
        if knobs:
            mock.set_faults(**knobs)
        await mock.start()
        print(f"mock upstream listening on {mock.url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await mock.aclose()

    try:
        loop.run_until_complete(serve())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()


def server_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A TLS server context from a PEM certificate (chain) and its key (or both in ``certfile``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


class MockUpstreamThread:
    """The mock upstream on its own event loop in a daemon thread, for sync code.

    ``with MockUpstreamThread(api_key="k") as mock: requests.post(mock.url + ...)``.
    ``set_faults``/``reset``/``count`` are forwarded thread-safely.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mock-upstream", daemon=True)
        self.mock: MockUpstream | None = None

    def start(self) -> MockUpstreamThread:
        self._thread.start()
        self.mock = self._call(self._start())
        return self

    async def _start(self) -> MockUpstream:
        return await MockUpstream(**self._options).start()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    @property
    def url(self) -> str:
        assert self.mock is not None, "start() first"
        return self.mock.url

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def set_faults(self, *, count: int | None = None, **knobs: Any) -> None:
        self._call(self._run(self.mock.set_faults, count=count, **knobs))  # type: ignore[union-attr]

    def reset(self) -> None:
        self._call(self._run(self.mock.reset))  # type: ignore[union-attr]

    def count(self, path: str) -> int:
        return int(self._call(self._run(self.mock.count, path)))  # type: ignore[union-attr]

    def connections(self) -> int:
        """Connections the mock has accepted (see ``MockUpstream.connections``)."""
        return int(self._call(self._run(getattr, self.mock, "connections")))

    def stop(self) -> None:
        if self.mock is not None:
            self._call(self.mock.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> MockUpstreamThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
