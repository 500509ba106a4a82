"""Who is asking on an admin route: the credential of the request, as a ``Principal``.

=====================  ==============================================================
the master key         ``owner``
an OIDC bearer JWT     the role in its ``role_claim`` (through ``role_map``), else the
                       role of the directory user whose email is its ``email_claim``;
                       a team admin's team from ``team_claim`` or that user
a virtual key          ``key_holder`` of that key (it reads itself)
a static config key    no admin role: 403
nothing, on an open    ``owner`` (no master key, static keys or OIDC are configured:
gateway                the gateway is local and trusts its callers)
=====================  ==============================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchyard.auth import Authenticator
from switchyard.core.config.governance import ROLES, OidcConfig
from switchyard.core.errors import AuthenticationFailed, PermissionDenied
from switchyard.governance.rbac import RANK, Principal
from switchyard.governance.snapshot import KeySnapshot

if TYPE_CHECKING:
    from switchyard.governance.oidc import OidcVerifier

OPEN = Principal("owner", "anonymous")


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments, the header a JSON object (``eyJ``): not a Switchyard key."""
    return token.startswith("eyJ") and token.count(".") == 2


class SignIn:
    """Turns an admin request's credential into a ``Principal`` (or 401/403)."""

    def __init__(self, auth: Authenticator, snapshot: KeySnapshot, oidc: OidcConfig | None) -> None:
        self.auth = auth
        self.snapshot = snapshot
        self.oidc_config = oidc
        self.oidc: OidcVerifier | None = None
        if oidc is not None:
            from switchyard.governance.oidc import OidcVerifier  # PyJWT and cryptography: only with OIDC

            self.oidc = OidcVerifier(oidc)

    async def principal(self, headers: dict[str, str], source: str | None = None) -> Principal:
        if not self.auth.enabled:
            return OPEN
        token = self.auth.presented(headers.get("authorization"), headers.get("x-api-key"))
        if not token:
            raise AuthenticationFailed("Missing credentials: send `Authorization: Bearer <master key, admin token "
                                       "or virtual key>`.", code="missing_api_key")
        if self.oidc is not None and looks_like_jwt(token):
            return self._from_claims(await self.oidc.verify(token), source)
        caller = self.auth.identify(token)
        if caller.is_master:
            return Principal("owner", "master", source=source)
        if caller.key_id is not None:
            return Principal("key_holder", f"key:{caller.key_id}", key_id=caller.key_id, team_id=caller.team_id,
                             tenant_id=caller.tenant_id, source=source)
        raise PermissionDenied("A client key from the config has no admin role: use the master key or an admin "
                               "token.", code="forbidden")

    def _from_claims(self, claims: dict[str, Any], source: str | None) -> Principal:
        config = self.oidc_config
        assert config is not None
        subject = f"oidc:{claims.get('sub') or claims.get(config.email_claim) or '?'}"
        role = self._role(claims.get(config.role_claim), config)
        team_id = user_id = None
        email = claims.get(config.email_claim)
        user_ref = self.snapshot.named("user", email) if isinstance(email, str) else None
        user = self.snapshot.users.get(user_ref) if user_ref is not None else None
        if role is None and user is not None:
            role, team_id = user.role, user.team_id
        if user is not None:
            user_id = user.id
        team_claim = claims.get(config.team_claim)
        if isinstance(team_claim, str) and team_claim:
            team_id = self.snapshot.named("team", team_claim) or (team_claim if team_claim in self.snapshot.teams
                                                                  else None)
        if role is None:
            raise PermissionDenied("The token carries no Switchyard role (claim "
                                   f"{config.role_claim!r}) and names no directory user.", code="forbidden")
        if role == "team_admin" and team_id is None:
            raise PermissionDenied("A team admin's token must name a known team (claim "
                                   f"{config.team_claim!r}) or belong to a directory user in one.", code="forbidden")
        tenant_id = self.snapshot.teams[team_id].tenant_id if team_id in self.snapshot.teams else None
        return Principal(role, subject, team_id=team_id, tenant_id=tenant_id, user_id=user_id, source=source)

    @staticmethod
    def _role(value: Any, config: OidcConfig) -> str | None:
        """The most powerful role the claim names (a string or a list), mapped through ``role_map``."""
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        roles = [config.role_map.get(n) or (n if n in ROLES else None) for n in names if isinstance(n, str)]
        found = [r for r in roles if r is not None]
        return max(found, key=lambda r: RANK[r]) if found else None
