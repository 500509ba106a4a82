"""``switchyard worker`` and ``switchyard projections rebuild``.

``worker`` runs batch lines from the Redis stream (``redis:`` and ``batch:`` in the config),
through the same pipeline as the gateway — any number of them, on any number of machines,
beside the gateway processes. It prints ``switchyard worker ready`` once it consumes, and on
SIGTERM or SIGINT finishes the lines it is running (their results written), then exits; a
worker killed outright leaves its work to be taken over when its lease ends.

``projections rebuild`` empties every read model (batch status, usage and spend) and applies
the event log to it again, from the first event: the same rows as before. Gateways may keep
running meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from switchyard.core.config import ConfigError, load_config


def worker(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if config.batch is None or config.redis is None:
        print("error: switchyard worker needs a batch: and a redis: section (without Redis, gateway processes run "
              "batch lines themselves)", file=sys.stderr)
        return 2
    if args.concurrency is not None:
        config = config.model_copy(update={"batch": config.batch.model_copy(update={"concurrency": args.concurrency})})
    from switchyard.core.registry import Registry
    from switchyard.gateway.services import Services
    from switchyard.observe.logs import setup_logging

    setup_logging(config.logging, (args.log_level or config.logging.level or config.server.log_level).lower())

    async def run() -> None:
        services = await Services.start(config, Registry(), role="worker")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("switchyard worker ready", flush=True)
        try:
            await stop.wait()
        finally:
            await services.aclose()

    import uvloop

    uvloop.run(run())
    return 0


def projections(args: argparse.Namespace) -> int:
    if args.url is not None:
        url, field = args.url, "--url"
    else:
        try:
            url, field = load_config(args.config).storage.url.get_secret_value(), "storage.url"
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
    from switchyard.storage import StoreURLError

    try:
        counts = asyncio.run(_rebuild(url, field))
    except (StoreURLError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot reach the database ({type(exc).__name__})", file=sys.stderr)
        return 1
    for name, count in counts.items():
        print(f"{name}: rebuilt from {count} events")
    return 0


async def _rebuild(url: str, field: str) -> dict[str, int]:
    from switchyard.projections.batch_view import BatchView
    from switchyard.projections.projector import Projector
    from switchyard.projections.usage_view import UsageView
    from switchyard.storage import open_store
    from switchyard.storage.migrate import NotMigrated, ensure_migrated
    from switchyard.storage.sql import SqlStore

    store = open_store(url, field=field)
    try:
        if not isinstance(store, SqlStore):
            raise ValueError(f"{field}: read models live in sqlite:/// and postgresql:// databases")
        try:
            await ensure_migrated(store)
        except NotMigrated as exc:
            raise ValueError(str(exc)) from None
        projector = Projector(store.engine, [UsageView(store.engine), BatchView(store.engine)])
        return await projector.rebuild()
    finally:
        await store.aclose()


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("worker", help="run batch lines from the Redis stream (needs redis: and batch:)")
    parser.add_argument("--config", "-c", default="switchyard.yaml",
                        help="YAML config file, the gateway's (default: switchyard.yaml)")
    parser.add_argument("--concurrency", type=int, help="lines in flight (default: batch.concurrency)")
    parser.add_argument("--log-level", default=None, help="debug, info, warning, error (default: from config)")
    parser.set_defaults(run=worker)

    rebuild = sub.add_parser("projections", help="the read models: rebuild them from the event log")
    actions = rebuild.add_subparsers(dest="projections_command", required=True, metavar="ACTION")
    step = actions.add_parser("rebuild", help="empty every read model and apply the whole event log again")
    where = step.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="sqlite:///path or postgresql://…")
    where.add_argument("--config", "-c", help="YAML config file whose storage.url to use")
    step.set_defaults(run=projections)
