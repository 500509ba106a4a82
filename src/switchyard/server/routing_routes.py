"""``POST /admin/route``: the routing dry-run (owner, admin, viewer).

The body is the request to explain (an OpenAI chat or embeddings body), or
``{"request": {...}, "headers": {...}}`` to explain it as if sent with those
headers (session ids, use-case headers). Nothing is sent upstream.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from switchyard.core.call import Call
from switchyard.core.messages import parse_json_body
from switchyard.governance.payloads import Payload, parse
from switchyard.routing.dry_run import explain
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable


class RouteQuestion(Payload):
    """The body of a dry-run with headers: the request to explain, as if sent with ``headers``."""

    request: dict[str, Any] = Field(description="An OpenAI chat or embeddings body.")
    headers: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=256)],
                            Annotated[str, StringConstraints(max_length=8192)]],
                       Field(max_length=100)] | None = Field(
        default=None, description="Request headers to explain it with (session ids, use-case headers).")


def add_routing_routes(table: RouteTable, app: Any) -> None:
    async def route(request: Request) -> Response:
        await gateway_viewer(app, request)
        body = parse_json_body(request.body)
        headers = dict(request.headers)
        if "request" in body:
            question = parse(RouteQuestion, body)
            headers.update({name.lower(): value for name, value in (question.headers or {}).items()})
            body = question.request
        services = app.services
        call = Call(request.request_id, headers=headers)
        return json_response(await explain(services.router, services.catalog, body, call))

    table.add("POST", "/admin/route", Handler(route, authenticated=False))
