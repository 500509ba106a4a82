"""Config for governance: how the key snapshot stays fresh, rotation, and admin sign-in by OIDC.

Example::

    governance:
      poll_interval: 1          # seconds between checks of the directory's revision (the safety net)
      full_reload_interval: 600 # seconds between full reloads of every entity
      rotation_grace: 86400     # seconds a rotated key's old secret stays valid (default for /rotate)
      oidc:
        issuer: https://login.example.com/realms/acme
        audience: switchyard
        role_claim: switchyard_role
        role_map: {gateway-admins: admin, gateway-viewers: viewer}
        team_claim: switchyard_team

Entities (tenants, teams, users, virtual keys) live in the durable store,
``storage.url``; this section only tunes how each replica follows them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from switchyard.core.config.base import Strict

#: Roles an admin may hold, most powerful first (``key_holder`` is implied by presenting a key).
Role = Literal["owner", "admin", "team_admin", "viewer", "member"]
ROLES: tuple[str, ...] = ("owner", "admin", "team_admin", "viewer", "member")


class OidcConfig(Strict):
    """Admins sign in with a bearer JWT from this issuer, verified against its JWKS."""

    issuer: str = Field(description="The tokens' `iss`; also where discovery is read when `jwks_url` is unset.")
    audience: str | list[str] = Field(description="The tokens' `aud` must name one of these.")
    jwks_url: str | None = Field(default=None, description="The JWKS; default: `jwks_uri` of "
                                                           "<issuer>/.well-known/openid-configuration.")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1)
    role_claim: str = Field(default="switchyard_role", description="A claim holding a role name or a list of them.")
    role_map: dict[str, Role] = Field(default_factory=dict,
                                      description="Claim value -> role (e.g. an IdP group); role names map to "
                                                  "themselves.")
    team_claim: str = Field(default="switchyard_team", description="The team a team_admin administers (its name).")
    email_claim: str = Field(default="email", description="Matched against directory users when no role claim.")
    cache_seconds: float = Field(default=300.0, gt=0, description="How long a fetched JWKS is trusted.")
    refresh_cooldown: float = Field(default=30.0, ge=0,
                                    description="An unknown `kid` refetches the JWKS at most once per this many "
                                                "seconds (rotated keys are picked up; a flood is not amplified).")
    leeway: float = Field(default=30.0, ge=0, description="Clock skew allowed on exp/nbf/iat, seconds.")
    timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for the issuer's JWKS or discovery.")

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("algorithms")
    @classmethod
    def _no_none(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a.lower() == "none" or a.upper().startswith("HS")]
        if bad:
            raise ValueError(f"{bad[0]!r} is not allowed: tokens must be signed with the issuer's public keys")
        return value


class GovernanceConfig(Strict):
    """How each replica follows the directory of tenants, teams, users and keys."""

    poll_interval: float = Field(default=1.0, gt=0, le=60,
                                 description="Seconds between checks of the directory's revision: the safety net "
                                             "under change notifications (and all there is for SQLite shared by "
                                             "processes).")
    full_reload_interval: float = Field(default=600.0, ge=10,
                                        description="Seconds between full reloads of every entity.")
    rotation_grace: float = Field(default=86400.0, ge=0,
                                  description="Seconds a rotated key's old secret stays valid, unless the "
                                              "rotation says otherwise.")
    oidc: OidcConfig | None = None
