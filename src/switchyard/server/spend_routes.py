"""``GET /admin/spend``: spend rolled up by one dimension over a time range.

Owners, admins and viewers see all of it; a team admin their team's, a member the spend of the
keys issued to them, a virtual key presented on the route (a key holder) its own.

Query parameters (``admin_queries.SpendParams``): ``group_by`` (key, user, team, tenant, alias, model,
deployment, provider; required), ``from`` and ``to`` (epoch seconds or ISO 8601;
``to`` excluded), ``limit`` (groups, 1–10000, default 1000). The answer::

    {"object": "spend_report", "group_by": "team", "from": ..., "to": ...,
     "data": [{"team": "a", "requests": 12, "errors": 1, "prompt_tokens": ..., "completion_tokens": ...,
               "cached_tokens": ..., "cache_write_tokens": ..., "reasoning_tokens": ..., "cost_usd": 0.0123,
               "unpriced": 0, "estimated": 0}, ...],
     "total": {...}}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from switchyard.core.errors import ServiceUnavailable
from switchyard.governance.rbac import Principal, require
from switchyard.server.admin_access import principal
from switchyard.server.admin_queries import SpendParams, parse_query
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable
from switchyard.spend.report import SpendQuery


def spend_query(raw: bytes) -> SpendQuery:
    """The report a query string asks for; an unknown or malformed parameter is a 400 naming it."""
    params = parse_query(SpendParams, raw)
    return SpendQuery(params.group_by, params.since, params.until, params.limit)


def _own(who: Principal) -> tuple[tuple[str, str], ...] | None:
    """What a principal who may not see all spend sees: a key holder its key's, a member the keys
    issued to them, a team admin their team's (None: everything, for owner, admin, viewer)."""
    if who.role == "key_holder" and who.key_id is not None:
        return (("key_id", who.key_id),)
    if who.role == "member" and who.user_id is not None:
        return (("user", who.user_id),)
    if who.role == "team_admin" and who.team_id is not None:
        return (("team_id", who.team_id),)
    return None


def add_spend_routes(table: RouteTable, app: Any) -> None:
    async def report(request: Request) -> Response:
        who = await principal(app, request)
        query = spend_query(request.query)
        mine = _own(who)
        if mine is None:
            require(who, "gateway")
        else:
            query = replace(query, only=mine)
        services = app.services
        if services.spend is None:
            raise ServiceUnavailable("This gateway keeps no spend records (set spend.records: true).",
                                     code="spend_records_off")
        return json_response(await services.spend.report(query))

    table.add("GET", "/admin/spend", Handler(report, authenticated=False, reads_body=False))
