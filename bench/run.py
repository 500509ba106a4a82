"""Switchyard's benchmark: ``.venv/bin/python -m bench.run [--quick] [--duration S] [--json out.json]``.

Starts the mock upstream (``python -m switchyard.mock``) and the gateway
(``switchyard serve``) as subprocesses on loopback, pins the gateway to core 0
and the mock plus this process (the load generator) to core 1, runs each
section, and prints one table of figures with the targets beside them.
``--slow-streams 1000,4000`` adds the concurrency point of ``bench.slow_streams``
(alone, unless ``--section`` names sections too).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import orjson

from bench.admission import admission
from bench.auth import auth
from bench.batch import batch
from bench.cache import cache
from bench.flows import flows
from bench.guard import guard
from bench.harness import Context, Figure, Row, Section, SectionResult
from bench.observability import observability
from bench.processes import Process, free_port, mock_process, pin
from bench.responses import FAKE_MODEL, responses
from bench.routing import routing
from bench.semantic import semantic
from bench.slow_streams import CHUNK_DELAY_MS, SLOW_MODEL, format_points, slow_streams
from bench.spend import spend
from bench.throughput import throughput
from bench.tool_calls import mcp_section
from switchyard.server.runner import raise_open_file_limit

SECTIONS: dict[str, Section] = {"throughput": throughput, "routing": routing, "admission": admission, "auth": auth,
                                "spend": spend, "observability": observability, "cache": cache,
                                "responses": responses, "guard": guard, "mcp": mcp_section,
                                "batch": batch, "semantic": semantic, "flows": flows}
MASTER_KEY = "sk-bench-master"
MODEL = "bench-model"

GATEWAY_CONFIG = """\
auth:
  master_key: {master_key}
models:
  {model}:
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: {mock_url}/v1
        api_key: sk-upstream
  {slow_model}:
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: {mock_url}/v1
        api_key: sk-upstream
        headers: {{x-mock-chunk-delay-ms: "{chunk_delay_ms}"}}
  {fake_model}:
    deployments:
      - provider: fake
        model: echo
"""


def gateway_config(mock_url: str, chunk_delay_ms: float = CHUNK_DELAY_MS) -> str:
    """The benchmark gateway's config; ``chunk_delay_ms`` paces the slow streams."""
    return GATEWAY_CONFIG.format(master_key=MASTER_KEY, model=MODEL, mock_url=mock_url, slow_model=SLOW_MODEL,
                                 chunk_delay_ms=chunk_delay_ms, fake_model=FAKE_MODEL)


def gateway_process(command: list[str], workdir: Path, mock_url: str, name: str = "gateway") -> Process:
    """``switchyard serve`` on a free port, pinned to core 0 (enter it to start it)."""
    config = workdir / f"{name}.yaml"
    config.write_text(gateway_config(mock_url))
    port = free_port()
    return Process(
        [*command, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        core=0,
        ready_url=f"http://127.0.0.1:{port}/health/ready",
        log=workdir / f"{name}.log",
    )


def gateway_command() -> list[str] | None:
    """``switchyard serve`` from this venv, if installed."""
    exe = Path(sys.executable).parent / "switchyard"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("switchyard")
    return [found] if found else None


def format_table(rows: list[Row], figures: list[Figure]) -> str:
    head = f"{'target':8} {'mode':6} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ttfb50':>8} {'ttfb99':>8} {'errors':>6}"
    lines = [head, "-" * len(head)] if rows else []
    for r in rows:
        ttft50 = f"{r.ttft_p50_ms:8.2f}" if r.ttft_p50_ms is not None else f"{'':8}"
        ttft99 = f"{r.ttft_p99_ms:8.2f}" if r.ttft_p99_ms is not None else f"{'':8}"
        lines.append(
            f"{r.target:8} {r.mode:6} {r.concurrency:4d} {r.rps:9,.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {ttft50} {ttft99} {r.errors:6d}"
        )
    if rows:
        lines.append("(stream: p50/p99 = time to last byte; ttfb = time to first body byte)")
    if figures:
        if rows:
            lines.append("")
        for f in figures:
            value = "n/a" if f.value is None else f"{f.value:,.2f} {f.unit}"
            verdict = "" if f.met is None else ("  ok" if f.met else "  MISSED")
            lines.append(f"{f.name:28} {value:>16}   target {f.target}{verdict}")
    errors = [r for r in rows if r.error_sample]
    for r in errors[:3]:
        lines.append(f"first error ({r.target} {r.mode} c{r.concurrency}): {r.error_sample}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test, not figures")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measured cell (default 5, quick 0.5)")
    parser.add_argument("--concurrency", type=int, action="append", help="repeatable (default 1, 16, 64)")
    parser.add_argument("--no-gateway", action="store_true", help="measure the mock only")
    parser.add_argument("--section", action="append", choices=sorted(SECTIONS), help="repeatable (default all)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--slow-streams", type=_counts, metavar="N[,N...]",
                        help="hold N ten-second streams open through one gateway (e.g. 1000,4000), probing its latency")
    args = parser.parse_args(argv)
    duration = args.duration or (0.5 if args.quick else 5.0)
    sections = args.section or ([] if args.slow_streams else list(SECTIONS))
    raise_open_file_limit()  # for the slow streams; the mock and gateways inherit it

    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        mock_port = free_port()
        stack.enter_context(mock_process(mock_port, core=1, log=workdir / "mock.log", stream_chunks=20))
        mock_url = f"http://127.0.0.1:{mock_port}"
        notes = []
        if not pin(0, 1):
            notes.append("could not pin the load generator to core 1 (single-core machine?)")
        gateway_url = gateway_pid = None
        command = None if args.no_gateway else gateway_command()
        if command is None and not args.no_gateway:
            notes.append("`switchyard` is not installed in this venv: gateway rows skipped")
        if command is not None and sections:
            gateway = gateway_process(command, workdir, mock_url)
            try:
                stack.enter_context(gateway)
            except (RuntimeError, TimeoutError) as exc:
                log = (workdir / "gateway.log").read_text(errors="replace")[-2000:]
                notes.append(f"gateway did not start ({exc}); its log ends with:\n{log}")
            else:
                gateway_url, gateway_pid = gateway.url, gateway.pid
        ctx = Context(
            mock_url=mock_url,
            gateway_url=gateway_url,
            gateway_pid=gateway_pid,
            master_key=MASTER_KEY,
            model=MODEL,
            duration=duration,
            warmup=0.2 if args.quick else 1.0,
            max_requests=50_000 if args.quick else 2_000_000,
            concurrencies=tuple(args.concurrency or (1, 16, 64)),
            workdir=workdir,
            notes=notes,
        )
        total = SectionResult()
        for name in sections:
            result = SECTIONS[name](ctx)
            total.rows += result.rows
            total.figures += result.figures
        points = []
        if args.slow_streams and command is not None:
            result, points = slow_streams(ctx, args.slow_streams,
                                          lambda name: gateway_process(command, workdir, mock_url, name))
            total.figures += result.figures

    print(format_table(total.rows, total.figures))
    if points:
        print()
        print(format_points(points))
    for note in ctx.notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_bytes(
            orjson.dumps(
                {"rows": [r.as_dict() for r in total.rows], "figures": [f.as_dict() for f in total.figures], "notes": ctx.notes},
                option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
            )
        )
    return 0


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected stream counts such as 1000,4000, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive stream counts such as 1000,4000, got {text!r}")
    return counts


if __name__ == "__main__":
    sys.exit(main())
