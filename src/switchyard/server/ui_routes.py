"""``/ui``: the web dashboard (``switchyard/ui/``), unless ``server.ui: false``.

The gateway serves only files here: the page, its scripts and its style sheet, read once
when the app is built. The console signs in with a credential the admin API accepts (the
master key, an OIDC token, a virtual key) kept in the tab's ``sessionStorage`` and sent as
``Authorization: Bearer``, so every figure it shows comes through the admin API with that
caller's role — the files themselves hold nothing secret and need no sign-in. No cookie is
set, so no other site can make the browser act as the signed-in operator (no CSRF); the
content security policy allows scripts, styles and requests from the gateway only.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import NotFound
from switchyard.server.http import Request, Response
from switchyard.server.routes import Handler, RouteTable

PREFIX = "/ui/static/"
SECURITY = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),  # revalidated: a new gateway version's files are seen at once
]


def add_ui_routes(table: RouteTable, app: Any) -> None:
    from switchyard.ui import assets

    files = assets()
    page = files["index.html"]

    def served() -> None:
        if not app.config.server.ui:
            raise NotFound("The dashboard is off (server.ui: false).", code="unknown_url")

    async def index(request: Request) -> Response:
        served()
        return Response(200, page[1], list(SECURITY), content_type=page[0])

    async def static(request: Request) -> Response:
        served()
        found = files.get(request.path_params["name"])
        if found is None or found is page:
            raise NotFound(f"Unknown path: {request.path}", code="unknown_url")
        return Response(200, found[1], list(SECURITY), content_type=found[0])

    for path in ("/ui", "/ui/"):
        table.add("GET", path, Handler(index, authenticated=False, reads_body=False, needs_services=False))
    table.add("GET", PREFIX + "{name}", Handler(static, authenticated=False, reads_body=False, needs_services=False))
