"""``GET /metrics``: the Prometheus exposition (``observe/metrics.py``), when ``metrics.enabled``.

Who may read it (``metrics:`` in the config): with ``token``, a request with
``Authorization: Bearer <token>`` (or the master key); otherwise the master key
when auth is on; anyone when auth is off or ``public: true``.
"""

from __future__ import annotations

import hmac
from typing import Any

from switchyard.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from switchyard.server.http import Request, Response
from switchyard.server.routes import Handler, RouteTable


def _bearer(request: Request) -> str | None:
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _check_access(request: Request, auth: Any, secret: Any) -> None:
    """Raise 401/403 unless the request may read the metrics (see the module docstring)."""
    token = secret.get_secret_value() if secret is not None else None
    presented = _bearer(request)
    if token is not None and presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), token.encode("utf-8")):
        return
    if not auth.enabled:
        if token is None:
            return  # an open gateway, no token configured
        raise AuthenticationFailed("Metrics need `Authorization: Bearer <metrics.token>`."
                                   if presented is None else "Incorrect metrics token.",
                                   code="missing_api_key" if presented is None else "invalid_api_key")
    caller = auth.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
    if not caller.is_master:
        raise PermissionDenied("Metrics need the master key" + (" or the metrics token." if token else "."),
                               code="master_key_required")


def add_metrics_routes(table: RouteTable, app: Any) -> None:
    async def metrics(request: Request) -> Response:
        services = app.services
        figures = services.metrics
        if figures is None:
            raise NotFound("Metrics are off: set `metrics.enabled: true` in the config.", code="unknown_url")
        settings = figures.settings
        if not settings.public:
            _check_access(request, services.auth, settings.token)
        body, content_type = figures.exposition(request.headers.get("accept"))
        return Response(200, body, content_type=content_type.encode("latin-1"))

    table.add("GET", "/metrics", Handler(metrics, authenticated=False, reads_body=False))
