"""What each ``switchyard`` subcommand does."""

from __future__ import annotations

import argparse
import logging
import sys

from switchyard.core.config import Config, ConfigError, load_config


def _load(path: str | None) -> Config:
    if path is None:
        from switchyard.gateway.defaults import default_config

        return default_config()
    return load_config(path)


def serve(args: argparse.Namespace) -> int:
    from switchyard.server.app import create_app
    from switchyard.server.runner import serve_forever

    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    level = (args.log_level or config.server.log_level).lower()
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve_forever(create_app(config), host, port, level)
    return 0


def check_config(args: argparse.Namespace) -> int:
    from switchyard.gateway.validate import problems_in

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems = problems_in(config)
    if problems:
        print(ConfigError(problems, args.file), file=sys.stderr)
        return 1
    print(f"{args.file}: ok ({len(config.models)} model aliases)")
    return 0


def mock_upstream(args: argparse.Namespace) -> int:
    from switchyard.mock import run_mock_upstream

    options = {
        name: getattr(args, name)
        for name in ("api_key", "chunks", "latency_ms", "chunk_delay_ms", "status", "retry_after", "drop_after_chunks")
        if getattr(args, name) is not None
    }
    run_mock_upstream(args.host, args.port, **options)
    return 0
