"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable


def add_health_routes(table: RouteTable, app: Any) -> None:
    async def live(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        services = app.services
        if services is None:
            return json_response({"status": "starting"}, status=503)
        report = services.readiness()
        return json_response(report, status=200 if report["status"] == "ok" else 503)

    for path, fn in (("/health/live", live), ("/health/ready", ready), ("/health", ready)):
        table.add("GET", path, Handler(fn, authenticated=False, reads_body=False, needs_services=False))
