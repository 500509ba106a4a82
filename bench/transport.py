"""Client cost: aiohttp's ClientSession against ``switchyard.transport.HttpClient``, and
over TLS the HTTP/1.1 pool against HTTP/2.

``python -m bench.transport [--duration S]``: the mock on core 1, the client
alone on core 0, concurrency 64, non-streaming chat completions over plain
http; the higher the req/s, the less the client costs the gateway per request.

``python -m bench.transport --tls --http2 [--rounds N]``: the mock serves HTTPS
(a certificate from a throwaway CA) and offers h2 by ALPN; ``HttpClient`` (one
keep-alive TLS connection per concurrent request) and ``Http2Client`` (every
request a stream of one connection) take turns, non-streaming and 20-chunk
streams, at c64. Printed per protocol and mode: the median req/s and this
process's CPU time per request (the client's cost; the mock's own HTTP/2 is
pure Python too, so req/s can be the mock's ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from bench.processes import free_port, mock_process, pin
from switchyard.mock.runner import new_event_loop
from switchyard.transport import HttpClient
from switchyard.transport.dial import Egress
from switchyard.transport.http2 import Http2Client
from switchyard.transport.tls import TLSOptions

BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello to the benchmark, " * 8}]})
STREAM_BODY = orjson.dumps({"model": "gpt-4o-mini", "stream": True,
                            "messages": [{"role": "user", "content": "Say hello to the benchmark, " * 8}]})
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


async def _loop_for(duration: float, concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    return (await _timed(duration, concurrency, one))[0]


async def _timed(duration: float, concurrency: int, one: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(req/s, CPU µs of this process per request) over ``duration`` seconds."""
    done = 0
    stop = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await one()
            done += 1

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return done / elapsed, cpu / max(done, 1) * 1e6


async def measure_aiohttp(url: str, duration: float, concurrency: int) -> float:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as resp:
                await resp.read()
                assert resp.status == 200

        await _loop_for(0.3, concurrency, one)
        return await _loop_for(duration, concurrency, one)


async def measure_switchyard(url: str, duration: float, concurrency: int) -> float:
    async with HttpClient(max_connections_per_origin=concurrency) as client:
        async def one() -> None:
            resp = await client.request("POST", url, headers=HEADERS, body=BODY, timeout=10)
            assert resp.status == 200

        await _loop_for(0.3, concurrency, one)
        return await _loop_for(duration, concurrency, one)


def compare(duration: float = 3.0, concurrency: int = 64) -> dict[str, float]:
    """Req/s of each client against a pinned mock."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, mock_process(port, core=1, log=Path(tmp) / "mock.log"):
        pin(0, 0)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        results = {}
        for name, fn in (("aiohttp.ClientSession", measure_aiohttp), ("switchyard HttpClient", measure_switchyard)):
            loop = new_event_loop()
            try:
                results[name] = loop.run_until_complete(fn(url, duration, concurrency))
            finally:
                loop.close()
        return results


def _clients(egress: Egress, concurrency: int, http2: bool) -> dict[str, HttpClient | Http2Client]:
    clients: dict[str, HttpClient | Http2Client] = {
        "HTTP/1.1": HttpClient(max_connections_per_origin=concurrency, egress=egress)}
    if http2:
        clients["HTTP/2"] = Http2Client(max_connections_per_origin=concurrency, egress=Egress(egress.tls, http2=True))
    return clients


def compare_protocols(duration: float = 3.0, concurrency: int = 64, rounds: int = 3,
                      modes: tuple[str, ...] = ("plain", "stream"), *,
                      http2: bool = True) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """``{(protocol, mode): [(req/s, client CPU µs per request), ...]}`` against a TLS mock offering h2."""
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    protocols = ("HTTP/1.1", "HTTP/2") if http2 else ("HTTP/1.1",)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {(p, m): [] for p in protocols for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        certfile, keyfile, cafile = Path(tmp) / "cert.pem", Path(tmp) / "key.pem", Path(tmp) / "ca.pem"
        cert.cert_chain_pems[0].write_to_path(str(certfile))
        cert.private_key_pem.write_to_path(str(keyfile))
        ca.cert_pem.write_to_path(str(cafile))
        trust = ssl.create_default_context(cafile=str(cafile))
        port = free_port()
        with mock_process(port, core=1, log=Path(tmp) / "mock.log", tls=(str(certfile), str(keyfile), trust), http2=True):
            pin(0, 0)
            url = f"https://127.0.0.1:{port}/v1/chat/completions"
            egress = Egress(TLSOptions(ca_file=str(cafile)))
            loop = new_event_loop()
            try:
                clients = _clients(egress, concurrency, http2)
                for _ in range(rounds):
                    for mode in modes:
                        for name, client in clients.items():
                            results[(name, mode)].append(
                                loop.run_until_complete(_measure(client, url, mode, duration, concurrency)))
                for client in clients.values():
                    loop.run_until_complete(client.aclose())
            finally:
                loop.close()
    return results


async def _measure(client: HttpClient | Http2Client, url: str, mode: str, duration: float,
                   concurrency: int) -> tuple[float, float]:
    if mode == "plain":
        async def one() -> None:
            resp = await client.request("POST", url, headers=HEADERS, body=BODY, timeout=10)
            assert resp.status == 200, resp.status
    else:
        async def one() -> None:
            async with client.stream("POST", url, headers=HEADERS, body=STREAM_BODY, timeout=10) as resp:
                assert resp.status == 200, resp.status
                async for _ in resp.aiter_bytes(idle_timeout=10):
                    pass

    await _timed(min(0.5, duration), concurrency, one)
    return await _timed(duration, concurrency, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tls", action="store_true", help="over TLS: the HTTP/1.1 pool against HTTP/2 (with --http2)")
    parser.add_argument("--http2", action="store_true", help="with --tls: measure HTTP/2 as well")
    parser.add_argument("--rounds", type=int, default=3, help="with --tls: interleaved rounds (medians printed)")
    parser.add_argument("--mode", action="append", choices=("plain", "stream"))
    args = parser.parse_args()
    if not args.tls:
        for name, rps in compare(args.duration, args.concurrency).items():
            print(f"{name:24s} {rps:10,.0f} req/s")
        return
    results = compare_protocols(args.duration, args.concurrency, args.rounds, tuple(args.mode or ("plain", "stream")),
                                http2=args.http2)
    print(f"TLS loopback, c{args.concurrency}, {args.rounds} rounds of {args.duration:g}s: median (min-max)")
    for (name, mode), rows in results.items():
        rps = [r for r, _ in rows]
        cpu = [c for _, c in rows]
        print(f"{name:9s} {mode:6s} {statistics.median(rps):9,.0f} req/s ({min(rps):,.0f}-{max(rps):,.0f})   "
              f"{statistics.median(cpu):6.0f} CPU µs/request ({min(cpu):.0f}-{max(cpu):.0f})")


if __name__ == "__main__":
    main()
