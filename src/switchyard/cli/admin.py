"""``switchyard keys|tenants|teams|users``: the admin API from the command line.

Each command is one request to a running gateway's admin API (``--gateway``,
default ``$SWITCHYARD_URL`` or http://127.0.0.1:4000), signed in with
``--admin-key`` (default ``$SWITCHYARD_ADMIN_KEY``, else ``$SWITCHYARD_MASTER_KEY``;
an OIDC token works too) — so the same role checks apply as over HTTP and every
replica learns of the change within a second. The answer is printed as JSON;
a new or rotated key's secret is in it, the only time it is shown::

    switchyard tenants create acme --budget 1000
    switchyard teams create ml --tenant acme --rpm 600
    switchyard keys create --team ml --models gpt-4o,fake/echo --rpm 60 --budget 25 --budget-period monthly
    switchyard keys rotate key_0123456789abcdef --grace 1h
    switchyard keys revoke key_0123456789abcdef
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_GATEWAY = "http://127.0.0.1:4000"
KINDS = {"keys": "key", "tenants": "tenant", "teams": "team", "users": "user"}
#: Options that hold comma-separated lists (repeatable as well).
LISTS = ("models", "routes", "tags")


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _numbers(value: str) -> list[float]:
    try:
        return [float(part) for part in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError("expected numbers separated by commas, e.g. 0.5,0.8") from None


def _instant(value: str) -> float | str:
    """Epoch seconds as a number (the API takes a number or an ISO 8601 string)."""
    try:
        return float(value)
    except ValueError:
        return value


def _pair(value: str) -> tuple[str, str]:
    name, sep, text = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=VALUE")
    return name, text


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", "-g", default=None,
                        help=f"the gateway's URL (default: $SWITCHYARD_URL, else {DEFAULT_GATEWAY})")
    parser.add_argument("--admin-key", default=None,
                        help="master key, admin token or key (default: $SWITCHYARD_ADMIN_KEY, else "
                             "$SWITCHYARD_MASTER_KEY)")


def _limits(parser: argparse.ArgumentParser, tier: bool = True) -> None:
    if tier:
        parser.add_argument("--tier", help="priority tier (limits.priority.tiers)")
        parser.add_argument("--rpm", type=int, help="requests per minute")
        parser.add_argument("--tpm", type=int, help="tokens per minute")
    parser.add_argument("--budget", type=float, metavar="USD", help="a budget in US dollars (the hard stop)")
    parser.add_argument("--budget-period", choices=("daily", "weekly", "monthly", "rolling"),
                        help="default monthly")
    parser.add_argument("--budget-window", help="rolling budgets: the window, e.g. 30d")
    parser.add_argument("--budget-tz", help="where daily/weekly/monthly periods begin (default UTC)")
    parser.add_argument("--budget-soft", type=_numbers, help="alert thresholds as fractions, e.g. 0.5,0.8")
    parser.add_argument("--budget-webhook", help="where alerts are POSTed")
    parser.add_argument("--metadata", type=_pair, action="append", metavar="NAME=VALUE",
                        help="metadata routing rules can read (repeatable)")


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="a name to recognise the key by (default: its prefix)")
    parser.add_argument("--user", help="the user it is issued to (id or email)")
    parser.add_argument("--models", type=_csv, action="append", help="aliases it may use, comma-separated")
    parser.add_argument("--routes", type=_csv, action="append", help="paths it may call, e.g. /v1/chat/completions")
    parser.add_argument("--expires-in", help="e.g. 30d, 12h")
    parser.add_argument("--expires-at", type=_instant, help="epoch seconds or an ISO 8601 time")
    parser.add_argument("--tags", type=_csv, action="append", help="tags routing rules can read")
    _limits(parser)


def _clear(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clear", action="append", default=[], metavar="FIELD",
                        help="set FIELD to null (e.g. budget, models, expires_at); repeatable")


def add_parsers(sub: Any, run: Any) -> None:
    """The four admin commands, each with its actions, on the ``switchyard`` parser."""
    keys = sub.add_parser("keys", help="virtual keys: create, list, show, update, rotate, revoke")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="issue a key (its secret is printed once)")
    create.add_argument("--tenant", help="its tenant (implied by --team or --user)")
    create.add_argument("--team", help="its team (id or name)")
    _key_options(create)
    update = actions.add_parser("update", help="change a key (only the options given)")
    update.add_argument("id")
    _key_options(update)
    _clear(update)
    rotate = actions.add_parser("rotate", help="a new secret; the old one stays valid for --grace")
    rotate.add_argument("id")
    rotate.add_argument("--grace", help="e.g. 1h, 0 for none (default governance.rotation_grace)")
    for action in ("show", "revoke"):
        actions.add_parser(action, help=f"{action} a key").add_argument("id")
    listing = actions.add_parser("list", help="keys you may see")
    for name in ("tenant", "team", "user"):
        listing.add_argument(f"--{name}")
    listing.add_argument("--status", choices=("active", "revoked"))
    _paging(listing)
    for parser in (create, update, rotate, listing, *[actions.choices[a] for a in ("show", "revoke")]):
        _connection(parser)
        parser.set_defaults(run=run, kind="keys")

    for plural, label in (("tenants", "NAME"), ("teams", "NAME"), ("users", "EMAIL")):
        top = sub.add_parser(plural, help=f"{plural}: create, list, show, update, delete")
        actions = top.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help=f"create one of the {plural}")
        create.add_argument("ident", metavar=label)
        update = actions.add_parser("update", help="change one (only the options given)")
        update.add_argument("id")
        update.add_argument("--name" if plural != "users" else "--email", dest="rename", help="a new name")
        _clear(update)
        for parser in (create, update):
            if plural == "teams":
                parser.add_argument("--models", type=_csv, action="append",
                                    help="aliases every key of the team is limited to")
            if plural == "users":
                parser.add_argument("--team", help="the user's team (id or name)")
                parser.add_argument("--role", choices=("owner", "admin", "team_admin", "viewer", "member"))
                parser.add_argument("--name", dest="display", help="a display name")
            _limits(parser, tier=plural != "users")
        if plural in ("teams", "users"):
            create.add_argument("--tenant", required=plural == "teams",
                                help="its tenant" + (" (implied by --team)" if plural == "users" else ""))
        listing = actions.add_parser("list", help=f"{plural} you may see")
        for name in {"tenants": (), "teams": ("tenant",), "users": ("tenant", "team")}[plural]:
            listing.add_argument(f"--{name}")
        _paging(listing)
        show = actions.add_parser("show", help="one of them")
        show.add_argument("id")
        delete = actions.add_parser("delete", help="delete one (it must hold no active keys)")
        delete.add_argument("id")
        for parser in (create, update, listing, show, delete):
            _connection(parser)
            parser.set_defaults(run=run, kind=plural)


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, help="at most this many (default 100)")
    parser.add_argument("--after", help="the id the previous page ended with")


def _budget(args: argparse.Namespace) -> dict[str, Any] | None:
    extra = {field: getattr(args, f"budget_{name}", None) for name, field in
             (("period", "period"), ("window", "window"), ("tz", "timezone"), ("soft", "soft"),
              ("webhook", "webhook"))}
    extra = {k: v for k, v in extra.items() if v is not None}
    amount = getattr(args, "budget", None)
    if amount is None:
        if extra:
            raise SystemExit("error: --budget-* options need --budget AMOUNT")
        return None
    return {"amount": amount, **extra}


def body_of(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON body an ``args`` asks for: only the options given."""
    body: dict[str, Any] = {}
    names = ("name", "tenant", "team", "user", "rpm", "tpm", "tier", "expires_in", "expires_at", "role", *LISTS)
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            body[name] = [item for group in value for item in group] if name in LISTS else value
    if getattr(args, "metadata", None):
        body["metadata"] = dict(args.metadata)
    budget = _budget(args)
    if budget is not None:
        body["budget"] = budget
    ident = getattr(args, "ident", None)
    if ident is not None:
        body["email" if args.kind == "users" else "name"] = ident
    if getattr(args, "rename", None) is not None:
        body["email" if args.kind == "users" else "name"] = args.rename
    if getattr(args, "display", None) is not None:
        body["name"] = args.display
    for name in getattr(args, "clear", []):
        body[name] = None
    return body


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """``(method, path, body)`` of the admin API call ``args`` stands for."""
    base = f"/admin/{args.kind}"
    action = args.action
    if action == "create":
        return "POST", base, body_of(args)
    if action == "list":
        query = {k: getattr(args, k) for k in ("tenant", "team", "user", "status", "limit", "after")
                 if getattr(args, k, None) is not None}
        return "GET", base + ("?" + urllib.parse.urlencode(query) if query else ""), None
    target = f"{base}/{urllib.parse.quote(args.id, safe='')}"
    if action == "show":
        return "GET", target, None
    if action == "update":
        return "PATCH", target, body_of(args)
    if action == "delete":
        return "DELETE", target, None
    if action == "rotate":
        return "POST", target + "/rotate", {"grace": args.grace} if args.grace is not None else {}
    return "POST", target + "/revoke", None  # revoke


def run(args: argparse.Namespace) -> int:
    """Send the request; print the answer (exit 0) or the error (exit 1)."""
    method, path, body = request_for(args)
    gateway = (args.gateway or os.environ.get("SWITCHYARD_URL") or DEFAULT_GATEWAY).rstrip("/")
    key = args.admin_key or os.environ.get("SWITCHYARD_ADMIN_KEY") or os.environ.get("SWITCHYARD_MASTER_KEY")
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(gateway + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the gateway's URL
            answer = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", {})
        except ValueError:
            error = {}
        code = f" {error['code']}" if error.get("code") else ""
        print(f"error: {exc.code}{code}: {error.get('message') or exc.reason}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"error: cannot reach the gateway at {gateway} ({reason}); is `switchyard serve` running?",
              file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0
