"""``GET /admin/mcp``: the MCP gateway's servers, their tools, who may use which, and the tool limits
(owner, admin, viewer). What the dashboard's MCP page shows.

The answer::

    {"object": "mcp", "servers": [{"name": "weather", "connected": true, "error": null,
                                   "tools": ["weather__forecast", ...]}, ...],
     "access": {"default": [...], "keys": {"<key name>": [...]}, "teams": {...}, "tags": {...}},
     "rate_limits": [{"tool": "weather__*", "rpm": 60, "per": "key"}]}

Never a server's URL, headers or environment: those hold its credentials.
A gateway without ``mcp:`` answers 503 ``mcp_off``.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.config.mcp import SEPARATOR
from switchyard.core.errors import ServiceUnavailable
from switchyard.server.admin_access import gateway_viewer
from switchyard.server.http import Request, Response, json_response
from switchyard.server.routes import Handler, RouteTable


def add_mcp_admin_routes(table: RouteTable, app: Any) -> None:
    async def overview(request: Request) -> Response:
        await gateway_viewer(app, request)
        hub = app.services.mcp
        if hub is None:
            raise ServiceUnavailable("This gateway has no MCP gateway (set mcp: in the config).", code="mcp_off")
        status = hub.status()
        servers = [{"name": name, "connected": status[name]["connected"], "error": status[name].get("error"),
                    "tools": sorted(f"{name}{SEPARATOR}{tool}" for tool in server.tools)}
                   for name, server in sorted(hub.servers.items())]
        access = hub.config.access
        return json_response({
            "object": "mcp", "servers": servers,
            "access": {"default": access.default, "keys": access.keys, "teams": access.teams, "tags": access.tags},
            "rate_limits": [limit.model_dump() for limit in hub.config.rate_limits],
        })

    table.add("GET", "/admin/mcp", Handler(overview, authenticated=False, reads_body=False))
