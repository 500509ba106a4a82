"""What each ``switchyard`` subcommand does."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from switchyard.core.config import Config, ConfigError, load_config


def _load(path: str | None) -> Config:
    if path is None:
        from switchyard.gateway.defaults import default_config

        return default_config()
    return load_config(path)


def _load_checked(path: str | None) -> tuple[Config | None, list[tuple[str, str]], str]:
    """The config (None when invalid), every problem with it — schema and registry
    checks together, so one fix-up round is enough — and what to call its source."""
    from switchyard.gateway.validate import all_problems, problems_in

    try:
        config = _load(path)
    except ConfigError as exc:
        return None, all_problems(exc), exc.source
    return config, problems_in(config), path or "embedded default"


def serve(args: argparse.Namespace) -> int:
    from switchyard.server.app import create_app
    from switchyard.server.runner import serve_forever
    from switchyard.transport.upstreams import Upstreams

    config, problems, source = _load_checked(args.config)
    if problems:
        # An unknown provider (or an invalid file) would fail startup with a traceback; say it plainly.
        fatal = config is None or any(path.endswith(".provider") or path == "storage.url"
                                      or path.startswith("cache.semantic") for path, _ in problems)
        print(("" if fatal else "warning: ") + str(ConfigError(problems, source)), file=sys.stderr)
        if fatal:
            return 2
    assert config is not None
    try:
        Upstreams.from_config(config, os.environ)  # a bad HTTPS_PROXY / HTTP_PROXY, said plainly before startup
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    from switchyard.observe.logs import setup_logging

    settings = config.logging
    if args.log_format is not None:
        settings = settings.model_copy(update={"format": args.log_format})
    level = (args.log_level or settings.level or config.server.log_level).lower()
    workers = getattr(args, "workers", 1)
    if workers != 1:
        return _serve_workers(args, config, host, port, level, workers)
    setup_logging(settings, level)
    serve_forever(create_app(config), host, port, level, own_logging=True, limits=config.server)
    return 0


def _serve_workers(args: argparse.Namespace, config: Config, host: str, port: int, level: str, workers: int) -> int:
    """``serve --workers N``: refuse what would count per worker, then supervise the workers."""
    from switchyard.server.runner import bind, raise_open_file_limit
    from switchyard.server.workers import Workers, WorkerSpec, problems

    if workers < 1:
        print("--workers: must be at least 1", file=sys.stderr)
        return 2
    found = problems(config, workers)
    if found:
        print(ConfigError(found, args.config or "embedded default"), file=sys.stderr)
        return 2
    url = config.storage.url.get_secret_value()
    if url.lower().startswith("sqlite:"):  # once, here: N workers migrating one new file at once would race
        import asyncio

        from switchyard.storage.migrate import upgrade

        asyncio.run(upgrade(url, field="storage.url"))
    raise_open_file_limit()
    sock = bind(host, port)
    spec = WorkerSpec(config_path=args.config, log_level=level, log_format=args.log_format)
    try:
        return Workers(spec, workers, sock).run()
    finally:
        sock.close()


def check_config(args: argparse.Namespace) -> int:
    config, problems, source = _load_checked(args.file)
    if problems or config is None:
        print(ConfigError(problems, source), file=sys.stderr)
        return 1
    print(f"{args.file}: ok ({len(config.models)} model aliases)")
    return 0


def mock_upstream(args: argparse.Namespace) -> int:
    from switchyard.mock import run_mock_upstream

    options = {
        name: getattr(args, name)
        for name in ("api_key", "stream_chunks", "text", "embedding_dims", "models", "latency_ms", "chunk_delay_ms",
                     "end_delay_ms", "status", "retry_after", "drop_after_chunks", "garbage", "hang", "certfile", "keyfile",
                     "http2")
        if getattr(args, name) is not None
    }
    if options.get("http2") and "certfile" not in options:
        print("--http2 needs --tls-cert: HTTP/2 is offered by ALPN in the TLS handshake", file=sys.stderr)
        return 2
    run_mock_upstream(args.host, args.port, **options)
    return 0


def route(args: argparse.Namespace) -> int:
    from pathlib import Path

    import orjson

    from switchyard.core.call import Call
    from switchyard.routing.dry_run import explain

    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.evaluate is not None:
        return _evaluate_selection(config, args)
    if args.request is None:
        print("give --request (a dry-run) or --evaluate (a labelled set)", file=sys.stderr)
        return 2
    text = Path(args.request[1:]).read_text() if args.request.startswith("@") else args.request
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        print(f"--request is not valid JSON: {exc}", file=sys.stderr)
        return 2
    headers = {}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()

    return _report(config, lambda services: explain(services.router, services.catalog, body,
                                                    Call("dry-run", headers=headers)),
                   ok=lambda report: bool(report.get("chosen")))


def _report(config: Any, work: Callable[[Any], Awaitable[dict[str, Any]]],
            ok: Callable[[dict[str, Any]], bool] = lambda report: True) -> int:
    """Start the gateway's services for ``config``, print what ``work(services)`` reports as JSON;
    0 when ``ok`` says so, 1 when not or when it failed (said on stderr)."""
    import asyncio

    import orjson

    from switchyard.core.errors import SwitchyardError
    from switchyard.core.registry import Registry
    from switchyard.gateway.services import Services

    async def run() -> dict[str, Any]:
        services = await Services.start(config, Registry())
        try:
            found: dict[str, Any] = await work(services)
            return found
        finally:
            await services.aclose()

    try:
        report = asyncio.run(run())
    except SwitchyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0 if ok(report) else 1


def _evaluate_selection(config: Any, args: argparse.Namespace) -> int:
    """``switchyard route --evaluate FILE.jsonl``: a selecting rule measured (``routing/selection_eval.py``)."""
    from pathlib import Path

    from switchyard.core.errors import SwitchyardError
    from switchyard.routing.selection_eval import evaluate, read_labelled

    try:
        labelled = read_labelled(Path(args.evaluate).read_text())
    except OSError as exc:
        print(f"--evaluate: cannot read {args.evaluate}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except SwitchyardError as exc:
        print(f"--evaluate {args.evaluate}: {exc.message}", file=sys.stderr)
        return 2

    return _report(config, lambda services: evaluate(services.router, labelled, rule=args.rule,
                                                     baseline=args.baseline))


def db(args: argparse.Namespace) -> int:
    """``switchyard db upgrade|current``: Alembic migrations of the durable store."""
    import asyncio

    from switchyard.storage import StoreURLError
    from switchyard.storage.migrate import current, head, upgrade

    if args.url is not None:
        url, field = args.url, "--url"
    else:
        try:
            config = _load(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        url, field = config.storage.url.get_secret_value(), "storage.url"
    try:
        if args.db_command == "upgrade":
            at = asyncio.run(upgrade(url, field=field))
            print(f"database at revision {at} (head {head()})")
        else:
            at = asyncio.run(current(url, field=field))
            print(f"{at or 'none (never migrated)'} (head {head()})")
    except (StoreURLError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the database does not answer
        print(f"error: cannot reach the database ({type(exc).__name__}: {exc.strerror or 'connection failed'})",
              file=sys.stderr)
        return 1
    return 0
