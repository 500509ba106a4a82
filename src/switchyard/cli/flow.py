"""``switchyard flow``: run YAML flows durably, and watch and steer runs.

Modules a flow's ``register:`` names are imported from the current directory, as with
``python -m``. ``run FILE.yaml`` validates the flow (every problem with its path, exit 2), starts it in this
process — model steps through the gateway in-process (``--config``, else the embedded
default) — prints its events to stderr as they happen and its outcome as JSON on stdout
(exit 0 when done, 1 when it failed, stopped on a limit or was cancelled). ``--detach``
prints the run id and leaves the run to a ``flow worker`` (``--db`` shared, PostgreSQL).
``status``, ``events``, ``cancel``, ``send``, ``trace`` (its spans, or posted as OTLP to
``--endpoint``) and ``prune`` need only the journal database;
``resume`` runs the rest of a run here; ``worker`` takes queued runs and recovers this
executor's unfinished ones, until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

DEFAULT_DB = "sqlite:///switchyard-flows.db"


def add_parser(sub: Any) -> None:
    flow = sub.add_parser("flow", help="durable flows: run YAML flows, watch and steer runs")
    actions = flow.add_subparsers(dest="flow_command", required=True, metavar="ACTION")

    def action(name: str, text: str, run: Callable[[argparse.Namespace], int], *, run_id: bool = True,
               engine: bool = False) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=text)
        if run_id:
            parser.add_argument("run_id", metavar="RUN")
        parser.add_argument("--db", default=None,
                            help=f"the journal: sqlite:///PATH or postgresql://… (default: $SWITCHYARD_FLOWS_DB, else {DEFAULT_DB})")
        if engine:
            parser.add_argument("--config", "-c", default=None,
                                help="the gateway config model steps go through (default: the embedded default)")
        parser.set_defaults(run=run)
        return parser

    run = action("run", "validate a YAML flow and run it", run_flow, run_id=False, engine=True)
    run.add_argument("file", metavar="FILE.yaml")
    run.add_argument("--input", "-i", default=None, help="the flow's input as JSON, or @FILE (default: the flow's input:)")
    run.add_argument("--limits", default=None, help='limits as JSON, e.g. \'{"model_calls": 20, "usd": 0.5}\'')
    run.add_argument("--run-id", default=None, help="the run's id (default: a new one); an existing run is joined")
    run.add_argument("--detach", action="store_true", help="queue the run for a flow worker and print its id")
    action("status", "where a run stands, and its outcome once ended", flow_status)
    action("events", "a run's events as JSON lines, until it ends", flow_events)
    action("cancel", "cancel a run (resume continues it)", flow_cancel)
    action("resume", "resume a cancelled or crashed run here, from its journal", flow_resume, engine=True)
    send = action("send", "deliver an event to a run's wait_for", flow_send)
    send.add_argument("event")
    send.add_argument("--value", default="null", help="the event's value as JSON (default null)")
    trace = action("trace", "a run as one trace: its spans as JSON, or sent to an OTLP collector", flow_trace)
    trace.add_argument("--endpoint", default=None,
                       help="the collector's OTLP/HTTP base URL (…/v1/traces is posted to); default: print the spans")
    prune = action("prune", "retention: remove ended runs older than N days", flow_prune, run_id=False)
    prune.add_argument("--older-than-days", type=float, required=True)
    worker = action("worker", "take queued runs (and recover this executor's) until SIGTERM", flow_worker,
                    run_id=False, engine=True)
    worker.add_argument("--concurrency", type=int, default=8, help="runs at once in this process (default 8)")
    worker.add_argument("--executor-id", default=None, help="this worker's name (default: the host name and pid)")


def _db(args: argparse.Namespace) -> str:
    return str(args.db or os.environ.get("SWITCHYARD_FLOWS_DB") or DEFAULT_DB)


def _json_arg(value: str | None, name: str) -> Any:
    if value is None:
        return None
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: not JSON ({exc.msg} at {exc.pos})") from exc


def _guarded(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    from switchyard.flows.errors import FlowDefinitionError, FlowError

    try:
        return asyncio.run(work())
    except FlowDefinitionError as exc:
        print(f"error: the flow is invalid: {len(exc.problems)} problem(s)", file=sys.stderr)
        for path, reason in exc.problems:
            print(f"  {path}: {reason}", file=sys.stderr)
        return 2
    except (FlowError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _print_outcome(outcome: Any) -> int:
    print(json.dumps(outcome.as_dict(), default=str), flush=True)
    return 0 if outcome.status == "done" else 1


async def _follow(engine: Any, run_id: str) -> None:
    async for event in engine.events(run_id):
        where = f"{event['branch']} " if "branch" in event else ""
        detail = {k: v for k, v in event.items() if k not in ("type", "at", "branch", "step")}
        print(f"{event['type']:<14} {where}{event.get('step', '')} {json.dumps(detail, default=str) if detail else ''}"
              .rstrip(), file=sys.stderr, flush=True)


def _engine(args: argparse.Namespace, **options: Any) -> Any:
    from switchyard.flows import FlowEngine

    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a flow's register: modules import from here, as with python -m

    return FlowEngine(_db(args), config=args.config, **options)


def run_flow(args: argparse.Namespace) -> int:
    async def work() -> int:
        from switchyard.flows.spec import load

        definition = load(args.file)
        flow_input = _json_arg(args.input, "--input")
        limits = _json_arg(args.limits, "--limits") or definition.get("limits")
        async with _engine(args) as engine:
            handle = await engine.start({"yaml": definition}, flow_input, limits=limits, run_id=args.run_id,
                                        queue=args.detach)
            if args.detach:
                print(handle.run_id, flush=True)
                return 0
            await _follow(engine, handle.run_id)
            return _print_outcome(await handle.outcome())

    return _guarded(work)


def _runs(args: argparse.Namespace) -> Any:
    from switchyard.flows.database import JournalDatabase
    from switchyard.flows.runs import Runs

    return Runs(JournalDatabase.parse(_db(args)))


def flow_status(args: argparse.Namespace) -> int:
    async def work() -> int:
        runs = _runs(args)
        try:
            status = await runs.status(args.run_id)
        finally:
            runs.close()
        print(json.dumps(status.as_dict(), default=str), flush=True)
        return 0

    return _guarded(work)


def flow_events(args: argparse.Namespace) -> int:
    async def work() -> int:
        runs = _runs(args)
        try:
            async for event in runs.events(args.run_id):
                print(json.dumps(event, default=str), flush=True)
        finally:
            runs.close()
        return 0

    return _guarded(work)


def flow_cancel(args: argparse.Namespace) -> int:
    async def work() -> int:
        runs = _runs(args)
        try:
            await runs.cancel(args.run_id)
        finally:
            runs.close()
        print(f"cancelled {args.run_id}", flush=True)
        return 0

    return _guarded(work)


def flow_send(args: argparse.Namespace) -> int:
    async def work() -> int:
        value = _json_arg(args.value, "--value")
        runs = _runs(args)
        try:
            await runs.send(args.run_id, args.event, value)
        finally:
            runs.close()
        print(f"sent {args.event} to {args.run_id}", flush=True)
        return 0

    return _guarded(work)


def flow_trace(args: argparse.Namespace) -> int:
    async def work() -> int:
        from switchyard.flows.trace import otlp_request, run_spans

        runs = _runs(args)
        try:
            spans = await run_spans(runs, args.run_id)
        finally:
            runs.close()
        if args.endpoint is None:
            print(json.dumps(spans, default=str), flush=True)
            return 0
        status = await asyncio.to_thread(_post_otlp, args.endpoint.rstrip("/") + "/v1/traces", otlp_request(spans))
        print(f"sent {len(spans)} span(s) to {args.endpoint}: HTTP {status}", flush=True)
        return 0 if 200 <= status < 300 else 1

    return _guarded(work)


def _post_otlp(url: str, body: bytes) -> int:
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ValueError("--endpoint: expected an http:// or https:// URL")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"content-type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the scheme is checked above
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError as exc:
        raise ValueError(f"--endpoint: cannot reach {url}: {exc.reason}") from exc


def flow_prune(args: argparse.Namespace) -> int:
    async def work() -> int:
        if args.older_than_days < 0:
            raise ValueError("--older-than-days must be 0 or more")
        async with _engine(argparse.Namespace(db=args.db, config=None)) as engine:
            removed = await engine.prune(args.older_than_days * 86400)
        print(f"removed {removed} run(s)", flush=True)
        return 0

    return _guarded(work)


def flow_resume(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with _engine(args) as engine:
            handle = await engine.resume(args.run_id)
            await _follow(engine, handle.run_id)
            return _print_outcome(await handle.outcome())

    return _guarded(work)


def flow_worker(args: argparse.Namespace) -> int:
    async def work() -> int:
        if not 1 <= args.concurrency <= 1000:
            raise ValueError("--concurrency must be from 1 to 1000")
        executor = args.executor_id or f"{os.uname().nodename}-{os.getpid()}"
        async with _engine(args, worker_concurrency=args.concurrency, executor_id=executor):
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            print(f"switchyard flow worker ready ({executor})", flush=True)
            await stop.wait()
        return 0

    return _guarded(work)
