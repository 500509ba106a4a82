"""``switchyard spend report|export``: spend rolled up, or every record, from the durable store.

``report`` prints the rollup of ``GET /admin/spend`` (``--format table``, ``csv``
or ``json``); ``export`` writes every record in the range as CSV, for a
spreadsheet or a finance system. Both read the ``sy_spend`` table of
``--url`` or of the config's ``storage.url`` (SQLite or PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from typing import Any

import orjson

from switchyard.core.config import ConfigError, load_config


def _instant(name: str, value: str | None) -> float | None:
    from switchyard.server.admin_queries import instant

    if value is None:
        return None
    try:
        return float(instant(value))
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def spend(args: argparse.Namespace) -> int:
    from switchyard.spend.record import COLUMNS
    from switchyard.spend.report import ROLLUP_FIELDS, SpendQuery, to_csv
    from switchyard.spend.sql_store import SqlSpendStore
    from switchyard.storage import StoreURLError, open_store

    if args.url is not None:
        url, field = args.url, "--url"
    else:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        url, field = config.storage.url.get_secret_value(), "storage.url"
    try:
        since, until = _instant("--from", args.since), _instant("--to", args.until)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        store = open_store(url, field=field)
        try:
            engine = getattr(store, "engine", None)
            if engine is None:
                print(f"error: {field} keeps no spend records to read (use sqlite:/// or postgresql://)",
                      file=sys.stderr)
                return 2
            records = SqlSpendStore(engine)
            out = sys.stdout
            if args.spend_command == "export":
                writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
                writer.writeheader()
                async for record in records.scan(since, until):
                    writer.writerow(record.row())
                return 0
            query = SpendQuery(args.group_by, since, until, args.limit)
            rows, whole = await records.report(query)
            data = [row.public(query.group_by) for row in rows]
            columns = (query.group_by, *ROLLUP_FIELDS[1:])
            if args.format == "json":
                total = whole.public(query.group_by)
                total.pop(query.group_by)
                out.write(orjson.dumps({"group_by": query.group_by, "from": since, "to": until, "data": data,
                                        "total": total}, option=orjson.OPT_INDENT_2).decode() + "\n")
            elif args.format == "csv":
                out.write(to_csv(data, columns))
            else:
                out.write(_table(data, columns, whole.public(query.group_by), query.group_by))
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


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], total: dict[str, Any], group_by: str) -> str:
    total[group_by] = "(total)"
    shown = [*rows, total]
    cells = [[("" if r.get(c) is None else str(r[c])) for c in columns] for r in shown]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines) + "\n"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from switchyard.spend.record import GROUP_BY

    parser = sub.add_parser("spend", help="spend rolled up by key, team, tenant, alias or model; or every record")
    actions = parser.add_subparsers(dest="spend_command", required=True, metavar="ACTION")
    for action, text in (("report", "totals per group over a time range (table, csv or json)"),
                         ("export", "every spend record in a time range, as CSV")):
        step = actions.add_parser(action, help=text)
        where = step.add_mutually_exclusive_group(required=True)
        where.add_argument("--url", help="sqlite:///path or postgresql://…")
        where.add_argument("--config", "-c", help="YAML config file whose storage.url to use")
        step.add_argument("--from", dest="since", help="epoch seconds or ISO 8601 (included)")
        step.add_argument("--to", dest="until", help="epoch seconds or ISO 8601 (excluded)")
        if action == "report":
            step.add_argument("--group-by", required=True, choices=list(GROUP_BY))
            step.add_argument("--format", choices=("table", "csv", "json"), default="table")
            step.add_argument("--limit", type=int, default=1000, help="groups at most, costliest first")
        step.set_defaults(run=spend)
