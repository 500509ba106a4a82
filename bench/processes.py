"""Starting, pinning, probing and measuring the processes a benchmark runs against."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port the OS says is free now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin(pid: int, core: int) -> bool:
    """Pin ``pid`` (0 = this process) to one core when the machine has it (a negative core: leave it free)."""
    try:
        if 0 <= core < (os.cpu_count() or 1):
            os.sched_setaffinity(pid, {core})
            return True
    except (AttributeError, OSError):
        pass
    return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used, from /proc (NaN where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB, from /proc (NaN where unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def wait_ready(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
               context: ssl.SSLContext | None = None) -> None:
    """Poll ``url`` until it answers 200 (``context``: the TLS trust for https); raise if the
    process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


class Process:
    """A subprocess pinned to a core, stopped on exit."""

    def __init__(self, argv: list[str], *, core: int, ready_url: str, log: Path, ready_timeout: float = 30.0,
                 env: dict[str, str] | None = None, ready_context: ssl.SSLContext | None = None) -> None:
        self.argv = argv
        self.ready_context = ready_context
        self.env = env
        self.core = core
        self.ready_url = ready_url
        self.log = log
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Process:
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=ROOT, env=self.env)
        pin(self.proc.pid, self.core)
        try:
            wait_ready(self.ready_url, self.ready_timeout, self.proc, self.ready_context)
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def url(self) -> str:
        """``scheme://host:port`` of the process's ``ready_url``."""
        parts = urlsplit(self.ready_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


def mock_process(port: int, *, core: int, log: Path, stream_chunks: int = 20,
                 tls: tuple[str, str, ssl.SSLContext] | None = None, http2: bool = False) -> Process:
    """The mock upstream as ``python -m switchyard.mock``; ``tls``: (certificate file, key file,
    a client context trusting it) serves HTTPS, and ``http2`` offers HTTP/2 as well."""
    argv = [sys.executable, "-m", "switchyard.mock", "--port", str(port), "--stream-chunks", str(stream_chunks)]
    if tls is not None:
        argv += ["--tls-cert", tls[0], "--tls-key", tls[1]] + (["--http2"] if http2 else [])
    scheme = "https" if tls is not None else "http"
    return Process(argv, core=core, ready_url=f"{scheme}://127.0.0.1:{port}/_mock/health", log=log,
                   ready_context=tls[2] if tls is not None else None)


def collector_process(port: int, *, core: int, log: Path) -> Process:
    """A local OTLP/HTTP collector (``bench/collector.py``) that takes every export and decodes nothing."""
    return Process([sys.executable, "-m", "bench.collector", "--port", str(port)], core=core,
                   ready_url=f"http://127.0.0.1:{port}/health", log=log)
