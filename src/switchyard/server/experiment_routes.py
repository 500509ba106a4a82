"""``GET /admin/experiments`` and ``GET /admin/experiments/{name}`` (owner, admin, viewer):
the A/B experiments (``observe/experiments.py``) and each variant's requests, cost, latency,
error rate and mean feedback with their 95% confidence intervals. ``503 experiments_off`` on
a gateway whose config declares none; ``404 experiment_not_found`` for an unknown name."""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import NotFound, ServiceUnavailable
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable


def _experiments(app: Any) -> Any:
    experiments = app.services.experiments
    if experiments is None:
        raise ServiceUnavailable("This gateway runs no experiment: give a weighted alias an experiment: name.",
                                 code="experiments_off")
    return experiments


def add_experiment_routes(table: RouteTable, app: Any) -> None:
    async def listing(request: Request) -> Response:
        await gateway_viewer(app, request)
        return json_response(_experiments(app).listing())

    async def one(request: Request) -> Response:
        await gateway_viewer(app, request)
        name = request.path_params["name"]
        report = _experiments(app).report(name)
        if report is None:
            raise NotFound(f"No experiment named {name[:64]!r}.", param="name", code="experiment_not_found")
        return json_response(report)

    table.add("GET", "/admin/experiments", Handler(listing, authenticated=False, reads_body=False))
    table.add("GET", "/admin/experiments/{name}", Handler(one, authenticated=False, reads_body=False))
