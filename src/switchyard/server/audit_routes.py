"""``GET /admin/audit``: the audit log, filtered (owner, admin, viewer).

Query parameters (``admin_queries.AuditParams``), each optional: ``kind`` (admin, request, guard, tool…),
``actor``, ``action``, ``target``, ``from`` and ``to`` (epoch seconds or ISO 8601),
``after`` (an entry id: the page after it) and ``limit`` (1–1000, default 100).
The answer is ``{"object": "list", "data": [...], "next_after": id | null}``.
"""

from __future__ import annotations

from typing import Any

from switchyard.audit.store import Query
from switchyard.core.errors import ServiceUnavailable
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.admin_queries import AuditParams, parse_query
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable


def audit_query(raw: bytes) -> Query:
    """The filters of a query string; an unknown or malformed one is a 400 naming it."""
    params = parse_query(AuditParams, raw)
    return Query(kind=params.kind, actor=params.actor, action=params.action, target=params.target,
                 since=params.since, until=params.until, after_id=params.after, limit=params.limit)


def add_audit_routes(table: RouteTable, app: Any) -> None:
    async def entries(request: Request) -> Response:
        await gateway_viewer(app, request)
        services = app.services
        if services.audit is None:
            raise ServiceUnavailable("This gateway keeps no audit log (storage.url is a Redis store).")
        query = audit_query(request.query)
        data = await services.audit.query(query)
        next_after = data[-1]["id"] if len(data) == query.limit else None
        return json_response({"object": "list", "data": data, "next_after": next_after})

    table.add("GET", "/admin/audit", Handler(entries, authenticated=False, reads_body=False))
