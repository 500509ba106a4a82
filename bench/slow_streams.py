"""Slow streams held open: ``python -m bench.run --slow-streams 1000,4000``.

For each N, a fresh gateway process relays N concurrent streams of about ten
seconds each (the mock paces its events, ``x-mock-chunk-delay-ms`` through the
deployment's ``headers``), opened at 1,000 a second. While all N are open, a
probe sends one non-streaming request at a time to the same deployment (the same
upstream pool) and its latency is recorded. Figures per N: streams completed
(status 200 and ``[DONE]`` within the time bound), the most open at once, probe
p50/p99, the gateway's memory per open stream (its peak RSS growth over the most
streams open at once) and its CPU time per relayed event (first open to last
close, so stream set-up is included).

Each stream holds two descriptors in the gateway (the client's and the
upstream's connection) and one in the mock and in this process: ``bench.run``
raises the soft open-file limit to the hard one first, and the processes it
starts inherit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from bench.harness import Context, Figure, SectionResult
from bench.processes import Process, cpu_seconds, rss_mb
from switchyard.mock.runner import new_event_loop
from switchyard.transport import HttpClient

#: The alias of ``bench.run.GATEWAY_CONFIG`` whose deployment asks the mock to pace its streams.
SLOW_MODEL = "bench-slow"
#: The mock's pause between events: 23 pauses in a 24-event stream, about ten seconds.
CHUNK_DELAY_MS = 435
OPEN_PER_SECOND = 1000.0
PROBE_EVERY = 0.02
#: After the last stream opened, how long the streams may take to finish.
GRACE = 30.0
TARGET_PROBE_P99_MS = 50.0
TARGET_KIB_PER_STREAM = 30.0
PROMPT = "Slow stream: the quick brown fox jumps over the lazy dog, twice over."


@dataclass(slots=True)
class Point:
    """What one N measured."""

    streams: int
    completed: int = 0
    failed: int = 0
    error_sample: str | None = None
    events: int = 0
    opened: int = 0
    #: Streams open now, and the most open at once (the point holds N only if this reaches N).
    open_now: int = 0
    max_open: int = 0
    durations: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    probe_errors: int = 0
    kib_per_stream: float = float("nan")
    cpu_us_per_event: float = float("nan")

    def probe_ms(self, p: float) -> float:
        values = sorted(self.probes)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000


class _SlowStream(asyncio.Protocol):
    """One stream as cheap as a client gets (it shares a core with the mock): the request
    in one write, the answer counted as it arrives, no task or future per event. The
    gateway answers in chunks; the body ends with the zero-length chunk."""

    def __init__(self, point: Point, request: bytes, all_open: asyncio.Event, done: asyncio.Future[None]) -> None:
        self.point = point
        self.request = request
        self.all_open = all_open
        self.done = done
        self.started = time.perf_counter()
        self.transport: asyncio.Transport | None = None
        self.opened = False
        self.saw_done = False
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        point = self.point
        seen = self.tail + data
        if not self.opened:
            if not seen.startswith(b"HTTP/1.1 200"):
                self._end(f"answered {seen[:200]!r}")
                return
            self.opened = True
            point.opened += 1
            point.open_now += 1
            point.max_open = max(point.max_open, point.open_now)
            _settled(point, self.all_open)
        point.events += seen.count(b"data: ") - self.tail.count(b"data: ")
        self.saw_done = self.saw_done or b"data: [DONE]" in seen
        if seen.endswith(b"\r\n0\r\n\r\n"):
            self._end(None)
            return
        self.tail = seen[-16:]

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(f"the gateway closed the connection ({exc!r})")

    def _end(self, error: str | None) -> None:
        if self.done.done():
            return
        point = self.point
        if self.opened:
            point.open_now -= 1
        if error is None and self.saw_done:
            point.completed += 1
            point.durations.append(time.perf_counter() - self.started)
        else:
            point.failed += 1
            point.error_sample = point.error_sample or (error or "the stream ended without [DONE]")
            if not self.opened:
                _settled(point, self.all_open)
        self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


async def _one_stream(host: str, port: int, request: bytes, point: Point, all_open: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    try:
        transport, _ = await loop.create_connection(lambda: _SlowStream(point, request, all_open, done), host, port)
    except OSError as exc:  # a benchmark counts failures, it does not stop on them
        point.failed += 1
        point.error_sample = point.error_sample or repr(exc)[:300]
        _settled(point, all_open)
        return
    try:
        await done
    finally:
        transport.close()  # past the time bound: cut


async def _sample_rss(pid: int, peak: list[float]) -> None:
    while True:
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.1)


def _settled(point: Point, all_open: asyncio.Event) -> None:
    """Every stream is open, or failed before it could be."""
    if point.opened + point.failed >= point.streams:
        all_open.set()


async def _probe(url: str, headers: tuple[tuple[str, str], ...], body: bytes, point: Point, stop: asyncio.Event) -> None:
    async with HttpClient(max_connections_per_origin=1) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                resp = await client.request("POST", url, headers=headers, body=body, timeout=30)
                ok = resp.status == 200
            except Exception:  # counted, not raised: the probe keeps probing
                ok = False
            if ok:
                point.probes.append(time.perf_counter() - t0)
            else:
                point.probe_errors += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_EVERY)


async def measure(gateway_url: str, pid: int, master_key: str, n: int) -> Point:
    """Open ``n`` slow streams through the gateway at ``gateway_url`` (process ``pid``)."""
    url = f"{gateway_url}/v1/chat/completions"
    headers = (("content-type", "application/json"), ("authorization", f"Bearer {master_key}"))
    message = {"model": SLOW_MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    stream_body, probe_body = orjson.dumps({**message, "stream": True}), orjson.dumps(message)
    point = Point(n)
    # Warm the gateway (imports, first connections) before the memory baseline.
    async with HttpClient(max_connections_per_origin=8) as warm:
        for _ in range(20):
            await warm.request("POST", url, headers=headers, body=probe_body, timeout=30)
    await asyncio.sleep(0.5)
    rss_before = rss_mb(pid)
    all_open, stop_probe = asyncio.Event(), asyncio.Event()
    parts = urlsplit(gateway_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {parts.netloc}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers)
               + f"content-length: {len(stream_body)}\r\n\r\n").encode() + stream_body
    peak = [rss_before]
    sampler = asyncio.ensure_future(_sample_rss(pid, peak))
    cpu_start, tasks = cpu_seconds(pid), []
    opening = time.perf_counter()
    for i in range(n):
        tasks.append(asyncio.ensure_future(_one_stream(host, port, request, point, all_open)))
        lag = opening + (i + 1) / OPEN_PER_SECOND - time.perf_counter()
        if lag > 0:
            await asyncio.sleep(lag)
    bound = n / OPEN_PER_SECOND + GRACE
    finished = asyncio.ensure_future(asyncio.wait(tasks, timeout=bound))
    # The held window: every stream open, none finished yet; the probe runs in it.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_open.wait(), bound)
    if point.completed + point.failed == 0:
        probe = asyncio.ensure_future(_probe(url, headers, probe_body, point, stop_probe))
        while point.completed + point.failed == 0 and not finished.done():
            await asyncio.sleep(0.05)
        stop_probe.set()
        await probe
    _, pending = await finished
    cpu = cpu_seconds(pid) - cpu_start
    sampler.cancel()
    for task in pending:
        task.cancel()
    await asyncio.gather(sampler, *pending, return_exceptions=True)
    if point.events > 0:
        point.cpu_us_per_event = cpu / point.events * 1e6
    if point.max_open > 0:
        point.kib_per_stream = (peak[0] - rss_before) * 1024 / point.max_open
    return point


def slow_streams(ctx: Context, counts: list[int], start_gateway: Callable[[str], Process]) -> tuple[SectionResult, list[Point]]:
    """One point per count, each against a fresh gateway from ``start_gateway(name)``."""
    out = SectionResult()
    points = []
    for n in counts:
        loop = new_event_loop()
        try:
            with start_gateway(f"gateway-slow-{n}") as gateway:
                point = loop.run_until_complete(measure(gateway.url, gateway.pid, ctx.master_key, n))
        finally:
            loop.close()
        points.append(point)
        p99 = point.probe_ms(99)
        out.figures += [
            Figure(f"slow streams {n}: completed", point.completed, "streams", f"= {n}", point.completed == n),
            Figure(f"slow streams {n}: probe p99", p99, "ms", f"< {TARGET_PROBE_P99_MS:g} ms",
                   p99 < TARGET_PROBE_P99_MS if point.probes else False),
            Figure(f"slow streams {n}: memory per stream", point.kib_per_stream, "KiB",
                   f"< {TARGET_KIB_PER_STREAM:g} KiB", point.kib_per_stream < TARGET_KIB_PER_STREAM),
            Figure(f"slow streams {n}: CPU per event", point.cpu_us_per_event, "µs", "lower is better", None),
        ]
        if point.error_sample:
            ctx.notes.append(f"slow streams {n}: {point.failed} failed, first: {point.error_sample}")
    return out, points


def format_points(points: list[Point]) -> str:
    head = (f"{'streams':>7} {'completed':>11} {'max open':>8} {'mean s':>7} {'probes':>6} {'probe p50':>9} "
            f"{'probe p99':>9} {'KiB/stream':>10} {'CPU µs/event':>12}")
    lines = [head, "-" * len(head)]
    for p in points:
        mean = sum(p.durations) / len(p.durations) if p.durations else float("nan")
        lines.append(f"{p.streams:7d} {f'{p.completed}/{p.streams}':>11} {p.max_open:8d} {mean:7.2f} {len(p.probes):6d} "
                     f"{p.probe_ms(50):9.2f} {p.probe_ms(99):9.2f} {p.kib_per_stream:10.1f} {p.cpu_us_per_event:12.1f}")
    lines.append("(probe: one non-streaming request at a time to the same deployment, in ms, while all N are open,"
                 " none when streams ended before the last one opened; KiB: the gateway's peak RSS growth over the most"
                 " streams open at once; CPU: the gateway's, first open to last close, over the events relayed)")
    return "\n".join(lines)
