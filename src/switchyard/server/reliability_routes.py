"""``GET /admin/deployments``: health, breaker and probe state of every deployment (owner, admin, viewer).

The same per-deployment summary (available, breaker state) is on ``/health/ready``
for load balancers and dashboards; this endpoint adds the detail: failure counts,
latency, last error, breaker counters, last active probe, the retry budget.
"""

from __future__ import annotations

from typing import Any

from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable


def add_reliability_routes(table: RouteTable, app: Any) -> None:
    async def deployments(request: Request) -> Response:
        await gateway_viewer(app, request)
        return json_response(app.services.deployments_detail())

    table.add("GET", "/admin/deployments", Handler(deployments, authenticated=False, reads_body=False))
