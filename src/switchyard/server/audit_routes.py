"""``GET /admin/audit``: the audit log, filtered (owner, admin, viewer).

Query parameters, each optional: ``kind`` (admin | request), ``actor``,
``action``, ``target``, ``from`` and ``to`` (epoch seconds or ISO 8601),
``after`` (an entry id: the page after it) and ``limit`` (1–1000, default 100).
The answer is ``{"object": "list", "data": [...], "next_after": id | null}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from switchyard.audit.store import Query
from switchyard.core.errors import InvalidRequest, ServiceUnavailable
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable

_TEXT = ("kind", "actor", "action", "target")
_KNOWN = frozenset((*_TEXT, "from", "to", "after", "limit"))


def parse_instant(name: str, value: str) -> float:
    """A query parameter's instant: epoch seconds or ISO 8601 (a 400 naming it otherwise)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidRequest(f"Query parameter {name} must be epoch seconds or ISO 8601.", param=name) from None


def parse_query(raw: bytes) -> Query:
    """The filters of a query string; an unknown or malformed one is a 400 naming it."""
    try:
        params = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The query string is not valid.", param="query") from None
    for name, values in params.items():
        if name not in _KNOWN:
            raise InvalidRequest(f"Unknown query parameter {name!r}; known: {', '.join(sorted(_KNOWN))}.",
                                 param=name[:64])
        if len(values) != 1 or len(values[0]) > 512:
            raise InvalidRequest(f"Query parameter {name} must be given once, at most 512 characters.", param=name)
    one = {k: v[0] for k, v in params.items()}
    try:
        limit = int(one.get("limit", "100"))
        after = int(one.get("after", "0"))
    except ValueError:
        raise InvalidRequest("Query parameters limit and after must be integers.", param="limit") from None
    if not 1 <= limit <= 1000:
        raise InvalidRequest("Query parameter limit must be between 1 and 1000.", param="limit")
    return Query(**{k: one.get(k) for k in _TEXT},
                 since=parse_instant("from", one["from"]) if "from" in one else None,
                 until=parse_instant("to", one["to"]) if "to" in one else None, after_id=max(0, after), limit=limit)


def add_audit_routes(table: RouteTable, app: Any) -> None:
    async def entries(request: Request) -> Response:
        await gateway_viewer(app, request)
        services = app.services
        if services.audit is None:
            raise ServiceUnavailable("This gateway keeps no audit log (storage.url is a Redis store).")
        query = parse_query(request.query)
        data = await services.audit.query(query)
        next_after = data[-1]["id"] if len(data) == query.limit else None
        return json_response({"object": "list", "data": data, "next_after": next_after})

    table.add("GET", "/admin/audit", Handler(entries, authenticated=False, reads_body=False))
