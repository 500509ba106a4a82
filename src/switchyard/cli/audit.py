"""``switchyard audit verify|prune``: check the audit chain, apply retention."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from switchyard.core.config import ConfigError, load_config


def audit(args: argparse.Namespace) -> int:
    from switchyard.audit.chain import verify
    from switchyard.audit.store import MemoryAuditStore, audit_store_for
    from switchyard.storage import StoreURLError, open_store

    if args.url is not None:
        url, field, retention = args.url, "--url", None
    else:
        try:
            config = load_config(args.config) if args.config else None
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        if config is None:
            print("error: give --url or --config (the embedded default keeps its audit log in memory)",
                  file=sys.stderr)
            return 2
        url, field, retention = config.storage.url.get_secret_value(), "storage.url", config.audit.retention_days
    days = getattr(args, "older_than_days", None) or retention
    if args.audit_command == "prune" and days is None:
        print("error: give --older-than-days (or audit.retention_days in the config)", file=sys.stderr)
        return 2

    async def run() -> int:
        store = open_store(url, field=field)
        try:
            audits = audit_store_for(store)
            if audits is None or isinstance(audits, MemoryAuditStore):
                print(f"error: {field} keeps no audit log to check (use sqlite:/// or postgresql://)", file=sys.stderr)
                return 2
            if args.audit_command == "verify":
                verdict = await verify(await audits.head(), audits.scan())
                if verdict.ok:
                    print(f"audit chain intact: {verdict.checked} entries")
                    return 0
                print(f"audit chain BROKEN at entry {verdict.bad_id}: {verdict.problem} "
                      f"({verdict.checked} entries verified before it)")
                return 1
            assert days is not None
            removed = await audits.prune(time.time() - float(days) * 86_400.0)
            print(f"pruned {removed} entries older than {days:g} days")
            return 0
        finally:
            await store.aclose()

    try:
        return asyncio.run(run())
    except StoreURLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot reach the database ({type(exc).__name__})", file=sys.stderr)
        return 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("audit", help="verify the audit log's hash chain, or prune old entries")
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    for action, text in (("verify", "walk the chain; exit 1 naming the first altered, missing or removed entry"),
                         ("prune", "remove entries older than the retention (the chain stays verifiable)")):
        step = actions.add_parser(action, help=text)
        where = step.add_mutually_exclusive_group(required=True)
        where.add_argument("--url", help="sqlite:///path or postgresql://…")
        where.add_argument("--config", "-c", help="YAML config file whose storage.url to use")
        if action == "prune":
            step.add_argument("--older-than-days", type=float, help="default: audit.retention_days of the config")
        step.set_defaults(run=audit)
