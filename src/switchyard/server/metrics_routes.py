"""``GET /metrics``: the Prometheus exposition (``observe/metrics.py``), when ``metrics.enabled``.

Who may read it (``metrics:`` in the config): with ``token``, a request with
``Authorization: Bearer <token>``; when auth is on, also whoever may read the
gateway's state on the admin routes (owner — the master key —, admin, viewer);
anyone when auth is off and there is no token, or with ``public: true``.
"""

from __future__ import annotations

import hmac
from typing import Any

from switchyard.core.errors import AuthenticationFailed, NotFound
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response
from switchyard.server.routes import Handler, RouteTable


def _bearer(request: Request) -> str | None:
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


async def _check_access(app: Any, request: Request, secret: Any) -> None:
    """Raise 401/403 unless the request may read the metrics (see the module docstring)."""
    token = secret.get_secret_value() if secret is not None else None
    presented = _bearer(request)
    if token is not None and presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), token.encode("utf-8")):
        return
    if app.services.governance is None:  # auth is off
        if token is None:
            return
        raise AuthenticationFailed("Metrics need `Authorization: Bearer <metrics.token>`."
                                   if presented is None else "Incorrect metrics token.",
                                   code="missing_api_key" if presented is None else "invalid_api_key")
    await gateway_viewer(app, request)  # an owner, admin or viewer (the master key is the owner)


def add_metrics_routes(table: RouteTable, app: Any) -> None:
    async def metrics(request: Request) -> Response:
        services = app.services
        figures = services.metrics
        if figures is None:
            raise NotFound("Metrics are off: set `metrics.enabled: true` in the config.", code="unknown_url")
        settings = figures.settings
        if not settings.public:
            await _check_access(app, request, settings.token)
        body, content_type = figures.exposition(request.headers.get("accept"))
        return Response(200, body, content_type=content_type.encode("latin-1"))

    table.add("GET", "/metrics", Handler(metrics, authenticated=False, reads_body=False))
