"""Liveness and readiness.

``/health/ready`` says ready (200) or not (503) to anyone: load balancers probe
it without credentials. What stands behind the verdict — deployment ids, their
breakers, the admission backend — is shown only to a valid key (or on an open
gateway), since it maps the fleet.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import SwitchyardError
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
        status = 200 if report["status"] == "ok" else 503
        if services.auth.enabled:
            try:
                services.auth.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
            except SwitchyardError:
                return json_response({"status": report["status"]}, status=status)
        return json_response(report, status=status)

    for path, fn in (("/health/live", live), ("/health/ready", ready), ("/health", ready)):
        table.add("GET", path, Handler(fn, authenticated=False, reads_body=False, needs_services=False))
