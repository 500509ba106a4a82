"""Who is asking on an admin route, and whether their role lets them see the gateway's state.

Admin routes sign the caller in themselves (``Handler(authenticated=False)``):
besides keys they accept OIDC bearer tokens, whose verification may need the
issuer's JWKS. On an open gateway (no master key, static keys or OIDC) the
caller is the owner, as the gateway trusts every caller.
"""

from __future__ import annotations

from typing import Any

from switchyard.governance.rbac import Principal, require
from switchyard.governance.signin import OPEN
from switchyard.server.http import Request


async def principal(app: Any, request: Request) -> Principal:
    """The principal of ``request``'s credential (401 without a valid one, on a gateway with auth)."""
    governance = app.services.governance
    if governance is None:
        return OPEN
    client = request.client
    source = f"{client[0]}:{client[1]}" if isinstance(client, (tuple, list)) and len(client) == 2 else None
    found: Principal = await governance.signin.principal(request.headers, source)
    return found


async def gateway_viewer(app: Any, request: Request) -> Principal:
    """A principal allowed to read the gateway's own state (deployments, routing dry-runs)."""
    who = await principal(app, request)
    require(who, "gateway")
    return who
