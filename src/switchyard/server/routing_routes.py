"""``POST /admin/route``: the routing dry-run (owner, admin, viewer).

The body is the request to explain (an OpenAI chat or embeddings body), or
``{"request": {...}, "headers": {...}}`` to explain it as if sent with those
headers (session ids, use-case headers). Nothing is sent upstream.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.call import Call
from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import parse_json_body
from switchyard.routing.dry_run import explain
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable


def add_routing_routes(table: RouteTable, app: Any) -> None:
    async def route(request: Request) -> Response:
        await gateway_viewer(app, request)
        body = parse_json_body(request.body)
        headers = dict(request.headers)
        if "request" in body:
            extra = body.get("headers") or {}
            if not isinstance(body["request"], dict) or not isinstance(extra, dict):
                raise InvalidRequest("`request` must be an object and `headers` an object of strings.",
                                     param="request")
            headers.update({str(k).lower(): str(v) for k, v in extra.items()})
            body = body["request"]
        services = app.services
        call = Call(request.request_id, headers=headers)
        return json_response(await explain(services.router, services.catalog, body, call))

    table.add("POST", "/admin/route", Handler(route, authenticated=False))
