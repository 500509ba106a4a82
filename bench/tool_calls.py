"""MCP tool calls through the gateway against the same calls made directly: ``python -m bench.tool_calls``
(or the ``mcp`` section of ``python -m bench.run``).

Starts an MCP server of the SDK (``MCPServer``, stateless streamable HTTP with JSON answers, a tool
``add(a, b)``) pinned to core 1, and ``switchyard serve`` pinned to core 0 with that server behind
``/mcp`` (master key, audit log in memory, one rate limit matching the tool, so every check of a
call runs). This process is the client (the SDK's ``Client``, one session each way, core 1):
rounds alternate direct and gateway, ``--calls`` calls one at a time (c1) per round, so drift on
a shared machine hits both alike. Prints p50/p99 of each and the gateway's added p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Context, Figure, Row, SectionResult
from bench.processes import Process, free_port, pin

MASTER = "sk-bench-mcp-master"
UPSTREAM_CONFIG = """\
auth:
  master_key: {master}
logging:
  access_log: false
mcp:
  servers:
    adder:
      url: {upstream}/mcp
  rate_limits:
    - {{tool: "adder__*", rpm: 10000000}}
"""


def serve(port: int) -> None:
    """The upstream: ``add(a, b)`` over stateless streamable HTTP, ``GET /health`` for readiness."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    server: MCPServer[Any] = MCPServer("calc")

    @server.tool(description="Add two numbers.")
    def add(a: int, b: int) -> int:
        return a + b

    inner = server.streamable_http_app(stateless_http=True, json_response=True)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await inner(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info" if os.environ.get("BENCH_MCP_ACCESS") else "warning")


async def _rounds(direct_url: str, gateway_url: str, rounds: int, calls: int) -> dict[str, list[float]]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    times: dict[str, list[float]] = {"direct": [], "gateway": []}
    async with httpx2.AsyncClient() as plain, \
            httpx2.AsyncClient(headers={"authorization": f"Bearer {MASTER}"}) as keyed, \
            Client(streamable_http_client(f"{direct_url}/mcp", http_client=plain)) as direct, \
            Client(streamable_http_client(f"{gateway_url}/mcp", http_client=keyed)) as gateway:
        ways = {"direct": (direct, "add"), "gateway": (gateway, "adder__add")}
        for client, tool in ways.values():  # warm both
            for _ in range(20):
                await client.call_tool(tool, {"a": 1, "b": 2})
        for _ in range(rounds):
            for name, (client, tool) in ways.items():
                for i in range(calls):
                    started = time.perf_counter()
                    result = await client.call_tool(tool, {"a": i, "b": 1})
                    times[name].append((time.perf_counter() - started) * 1000.0)
                    if result.is_error or result.structured_content != {"result": i + 1}:
                        raise RuntimeError(f"{name}: unexpected answer {result}")
    return times


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(workdir: Path, rounds: int, calls: int, pinned: bool = True) -> SectionResult:
    """``pinned``: the gateway on core 0, the rest on core 1 (as ``bench.run``); else where the OS puts them."""
    upstream_port, gateway_port = free_port(), free_port()
    core0, core1 = (0, 1) if pinned else (-1, -1)
    upstream = Process([sys.executable, "-m", "bench.tool_calls", "--serve", str(upstream_port)], core=core1,
                       ready_url=f"http://127.0.0.1:{upstream_port}/health", log=workdir / "mcp-upstream.log")
    config = workdir / "mcp-gateway.yaml"
    config.write_text(UPSTREAM_CONFIG.format(master=MASTER, upstream=f"http://127.0.0.1:{upstream_port}"))
    exe = Path(sys.executable).parent / "switchyard"
    gateway = Process([str(exe), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(gateway_port)],
                      core=core0, ready_url=f"http://127.0.0.1:{gateway_port}/health/ready",
                      log=workdir / "mcp-gateway.log")
    pin(0, core1)
    with upstream, gateway:
        times = asyncio.run(_rounds(upstream.url, gateway.url, rounds, calls))
    result = SectionResult()
    for name, values in times.items():
        result.rows.append(Row("mcp", f"{name} tool call", "mcp", 1, 1000.0 / statistics.mean(values),
                               _p(values, 0.5), _p(values, 0.99), ok=len(values)))
    added50 = _p(times["gateway"], 0.5) - _p(times["direct"], 0.5)
    added99 = _p(times["gateway"], 0.99) - _p(times["direct"], 0.99)
    result.figures.append(Figure("MCP tool call added p50 at c1", round(added50, 3), "ms", "report", None))
    result.figures.append(Figure("MCP tool call added p99 at c1", round(added99, 3), "ms", "report", None))
    return result


def mcp_section(ctx: Context) -> SectionResult:
    quick = ctx.duration < 1
    return measure(ctx.workdir, rounds=2 if quick else 5, calls=50 if quick else 400)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tool_calls", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400, help="calls per round and way")
    parser.add_argument("--no-pin", action="store_true", help="leave every process where the OS puts it")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-mcp-") as tmp:
        result = measure(Path(tmp), args.rounds, args.calls, pinned=not args.no_pin)
    for row in result.rows:
        print(f"{row.target:22} p50 {row.p50_ms:7.3f} ms  p99 {row.p99_ms:7.3f} ms  ({row.ok} calls, "
              f"{row.rps:,.0f}/s)")
    for figure in result.figures:
        print(f"{figure.name}: {figure.value} {figure.unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
