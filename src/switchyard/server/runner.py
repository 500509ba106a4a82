"""Running the gateway: in the foreground (the CLI), in a thread or in a subprocess (tests).

The socket is bound before uvicorn starts, so port 0 works everywhere and the
real port is known; the foreground runner announces it on stdout as
``switchyard listening on http://HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from switchyard.core.config import Config, parse_config
from switchyard.core.config.server import ServerConfig
from switchyard.server.connection import ConnectionGuard, Http1

LISTENING = re.compile(r"switchyard listening on (http://\S+)")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _server(app: Any, log_level: str, limits: ServerConfig, own_logging: bool = False) -> uvicorn.Server:
    # access_log=False: the app writes its own access line (observe/access.py). With
    # own_logging, the handlers ``observe.logs.setup_logging`` installed format uvicorn's
    # records too, instead of uvicorn's own logging config. The HTTP protocol is
    # the gateway's own over httptools, with header limits and read deadlines (connection.py).
    extra: dict[str, Any] = {"log_config": None} if own_logging else {}
    protocol = functools.partial(Http1, guard=ConnectionGuard(limits))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=protocol,  # type: ignore[arg-type]  # a factory of protocols, as uvicorn calls it
        ws="none",  # no WebSocket routes: an upgrade request is served as plain HTTP
        lifespan="on",
        access_log=False,
        log_level=log_level,
        **extra,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        backlog=limits.backlog,
    )
    return uvicorn.Server(config)


def raise_open_file_limit() -> int | None:
    """Raise this process's soft limit on open files to its hard limit, and return it
    (None where there are no such limits). Each stream holds two descriptors, the
    client's connection and the upstream's: at the common soft default of 1024 a
    gateway would stop accepting at about 500 concurrent streams."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # some systems cap it below the hard limit
            return soft
        return wanted
    return soft


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def serve_forever(app: Any, host: str, port: int, log_level: str = "info", *, own_logging: bool = False,
                  limits: ServerConfig | None = None, sock: socket.socket | None = None,
                  ready: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` until interrupted; prints the listening URL once ready. ``limits``:
    header size and count, read deadlines (``server:`` of the config; its defaults when None).
    ``sock``: an already bound socket instead of ``host:port`` (a worker of ``--workers``);
    ``ready``: told the URL once serving, instead of the line on stdout."""
    raise_open_file_limit()
    if sock is None:
        sock = bind(host, port)
    server = _server(app, log_level, limits or ServerConfig(), own_logging)

    async def run() -> None:
        startup = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not startup.done():
            await asyncio.sleep(0.01)
        if server.started:
            if ready is None:
                print(f"switchyard listening on {_url(sock)}", flush=True)
            else:
                ready(_url(sock))
        await startup

    import uvloop

    uvloop.run(run())


class GatewayThread:
    """The gateway on a loopback port in a background thread (for tests and notebooks)."""

    def __init__(self, config: Config | dict[str, Any], *, host: str = "127.0.0.1", app: Any = None) -> None:
        from switchyard.server.app import create_app

        self.config = config if isinstance(config, Config) else parse_config(config)
        self.app = app if app is not None else create_app(self.config)
        self._sock = bind(host, 0)
        self.url = _url(self._sock)
        self._server = _server(self.app, "warning", self.config.server)
        self._thread = threading.Thread(target=self._run, name="switchyard-gateway", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        import uvloop

        try:
            uvloop.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # surfaced by start()
            self._error = exc

    def start(self) -> GatewayThread:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"gateway failed to start: {self._error!r}")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GatewayProcess:
    """``switchyard serve`` as a subprocess on a free loopback port (``workers``: ``--workers N``)."""

    def __init__(self, config: dict[str, Any] | str | Path, *, env: dict[str, str] | None = None,
                 host: str = "127.0.0.1", startup_timeout: float = 20.0, workers: int = 1) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if isinstance(config, dict):
            self._tmp = tempfile.TemporaryDirectory(prefix="switchyard-")
            path = Path(self._tmp.name) / "config.yaml"
            path.write_text(yaml.safe_dump(config))
            config = path
        self.config_path = Path(config)
        self.env = {**os.environ, **(env or {})}
        self.host = host
        self.startup_timeout = startup_timeout
        self.workers = workers
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> GatewayProcess:
        cmd = [sys.executable, "-m", "switchyard", "serve", "--config", str(self.config_path),
               "--host", self.host, "--port", "0", "--log-level", "warning"]
        if self.workers != 1:
            cmd += ["--workers", str(self.workers)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        lines: list[str] = []
        timer = threading.Timer(self.startup_timeout, self.process.kill)
        timer.start()
        try:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.append(line)
                match = LISTENING.search(line)
                if match:
                    self.url = match.group(1)
                    break
        finally:
            timer.cancel()
        if not self.url:
            self.stop()
            raise RuntimeError("gateway process did not start:\n" + "".join(lines[-30:]))
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        if self.process and self.process.stdout:
            for _ in self.process.stdout:
                pass

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
