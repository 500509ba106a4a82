"""``switchyard serve --workers N``: N gateway processes accepting on one listening socket.

The parent binds the socket once (port 0 works: the real port is known before any
worker starts), then starts N workers with ``multiprocessing``'s *spawn* — each a fresh
interpreter that loads the config and builds its own app: nothing is forked from a
process that has threads or an event loop. Every worker's event loop accepts on the
same socket, so the kernel hands each connection to whichever worker is free.

The parent only supervises: it announces ``switchyard listening on URL`` once every
worker is serving, restarts a worker that dies (at most ``MAX_RESTARTS`` within
``RESTART_WINDOW`` seconds; then it stops the others and exits 1), and on SIGTERM or
SIGINT asks each worker to finish its requests (uvicorn's graceful shutdown) and waits.

What the workers share: with ``redis:``, everything replicas share (limits with
``limits.backend: redis``, budget counters, breakers, sticky sessions, the response
cache with ``cache.backend: redis``, key invalidation). Without it, each worker is a
process of its own, so ``problems`` refuses what would silently count per process
(see there). Metrics are summed over the workers through a private
``PROMETHEUS_MULTIPROC_DIR`` (``observe/metrics.py``), made and removed here unless set.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from switchyard.core.config import Config

#: A worker may die this many times within ``RESTART_WINDOW`` seconds before the parent gives up.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: Seconds the parent waits for a worker to finish its requests after SIGTERM before killing it.
STOP_TIMEOUT = 15.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build the same gateway as its siblings (sent to each one)."""

    config_path: str | None
    log_level: str
    log_format: str | None


def problems(config: Config, workers: int) -> list[tuple[str, str]]:
    """What would silently count in each worker instead of once, as ``(path, reason)`` pairs.

    Without ``redis:``: rate limits on the memory backend (each worker would admit the whole
    limit), and with keys (auth on) their limits likewise, the key directory in ``memory://`` (a key issued through one worker would be
    unknown to the others), budget counters in this process (``budgets.counters: shared``
    without Redis), sticky sessions (each worker keeps its own table). Per-worker response
    caches and breakers are allowed: their answers stay correct, each worker learns on its own.
    """
    if workers <= 1 or config.redis is not None:
        return []
    found: list[tuple[str, str]] = []
    hint = f"with --workers {workers} and no redis: section, "
    limits = config.limits
    if limits is not None and limits.backend == "memory" and (limits.rules or limits.tenants):
        found.append(("limits.backend", hint + "memory limits count in each worker (each would admit the whole "
                      "limit): set limits.backend: redis and redis:"))
    if config.authenticates:
        found.append(("redis", hint + "a virtual key's rpm and tpm would be counted in each worker: set redis: "
                      "(and limits.backend: redis)"))
        scheme = config.storage.url.get_secret_value().split(":", 1)[0].lower()
        if scheme == "memory":
            found.append(("storage.url", hint + "memory:// keeps the key directory in each worker: use "
                          "sqlite:///… or postgresql://… (or set redis:)"))
        if config.budgets.counters == "shared":
            found.append(("budgets.counters", hint + "budgets would be counted in each worker: set "
                          "budgets.counters: durable (storage.url's counters) or redis:"))
    if config.routing.sticky is not None:
        found.append(("routing.sticky", hint + "each worker keeps its own session table: set redis:"))
    return found


def _die_with(parent: int) -> None:
    """Have the kernel send SIGTERM to this process when its parent dies (Linux), so a parent
    killed outright (SIGKILL, OOM) leaves no worker serving on its own."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM is all there is
        return
    if os.getppid() != parent:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _work(spec: WorkerSpec, sock: socket.socket, ready: Connection, parent: int) -> None:
    """A worker: the gateway of ``spec`` on the inherited ``sock``; says its URL on ``ready``."""
    _die_with(parent)
    from switchyard.core.config import load_config
    from switchyard.observe.logs import setup_logging
    from switchyard.server.app import create_app
    from switchyard.server.runner import serve_forever

    if spec.config_path is None:
        from switchyard.gateway.defaults import default_config

        config = default_config()
    else:
        config = load_config(spec.config_path)
    settings = config.logging
    if spec.log_format is not None:
        settings = settings.model_copy(update={"format": spec.log_format})
    setup_logging(settings, spec.log_level)

    def announce(url: str) -> None:
        ready.send(url)
        ready.close()

    serve_forever(create_app(config), "", 0, spec.log_level, own_logging=True, limits=config.server,
                  sock=sock, ready=announce)


class Workers:
    """Starts and supervises ``count`` workers on ``sock`` (see the module docstring)."""

    def __init__(self, spec: WorkerSpec, count: int, sock: socket.socket, *, startup_timeout: float = 60.0) -> None:
        if count < 1:
            raise ValueError("--workers: must be at least 1")
        self.spec = spec
        self.count = count
        self.sock = sock
        self.startup_timeout = startup_timeout
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[Any] = []
        self._deaths: deque[float] = deque(maxlen=MAX_RESTARTS + 1)
        self._stopping = False

    def _spawn(self) -> tuple[Any, Connection]:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_work, args=(self.spec, self.sock, sender, os.getpid()),
                                        name="switchyard-worker", daemon=False)
        process.start()
        sender.close()
        return process, receiver

    def _await_ready(self, pending: dict[Any, Connection]) -> tuple[str | None, str]:
        """``(URL, "")`` once every pending worker said it serves; ``(None, why)`` if one
        exited first or time ran out (or ``(None, "")`` when asked to stop meanwhile)."""
        url = None
        deadline = time.monotonic() + self.startup_timeout
        while pending and not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, f"a worker did not start within {self.startup_timeout:g} s"
            objects: list[Any] = [*pending.values(), *(p.sentinel for p in pending)]
            for ready in wait(objects, timeout=min(left, 0.5)):
                for process, receiver in list(pending.items()):
                    if ready is receiver or (ready is process.sentinel and receiver.poll()):
                        try:
                            url = receiver.recv()
                        except EOFError:  # it closed the pipe without a word: it is exiting
                            process.join(5)
                            return None, f"worker {process.pid} exited with {process.exitcode} before serving"
                        receiver.close()
                        del pending[process]
                    elif ready is process.sentinel:
                        process.join(5)
                        return None, f"worker {process.pid} exited with {process.exitcode} before serving"
        return url, ""

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (0), or until workers keep dying (1)."""
        own_dir = None
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            own_dir = tempfile.mkdtemp(prefix="switchyard-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir  # the workers inherit it
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            pending = dict(self._spawn() for _ in range(self.count))
            self._workers = list(pending)
            url, why = self._await_ready(pending)
            if url is None:
                if why:
                    print(f"switchyard: {why} (its log above says why)", file=sys.stderr, flush=True)
                    return 1
                return 0
            print(f"switchyard listening on {url} ({self.count} workers, pids "
                  f"{', '.join(str(p.pid) for p in self._workers)})", flush=True)
            return self._supervise()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if own_dir is not None:
                shutil.rmtree(own_dir, ignore_errors=True)
                os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def _supervise(self) -> int:
        while not self._stopping:
            wait([p.sentinel for p in self._workers], timeout=0.5)
            for n, process in enumerate(self._workers):
                if process.is_alive() or self._stopping:
                    continue
                now = time.monotonic()
                self._deaths.append(now)
                recent = sum(1 for at in self._deaths if now - at <= RESTART_WINDOW)
                print(f"switchyard: worker {process.pid} exited with {process.exitcode}; "
                      f"{'restarting it' if recent <= MAX_RESTARTS else 'too many restarts, stopping'}",
                      file=sys.stderr, flush=True)
                if recent > MAX_RESTARTS:
                    return 1
                replacement, receiver = self._spawn()
                self._workers[n] = replacement
                url, why = self._await_ready({replacement: receiver})
                if url is None and why:
                    print(f"switchyard: {why}", file=sys.stderr, flush=True)
                    self._deaths.append(time.monotonic())
        return 0

    def _stop_all(self) -> None:
        for process in self._workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
