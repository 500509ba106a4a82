"""Client authentication: the master key and the static keys of the config.

Keys are looked up by their SHA-256 digest, so the time taken does not depend
on how much of a guessed key matches; the master key is compared with
``hmac.compare_digest``. Virtual keys (issued at run time, with budgets) plug in
as another ``KeySource`` later.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from switchyard.core.config import AuthConfig
from switchyard.core.errors import AuthenticationFailed, PermissionDenied


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as far as policies care."""

    name: str
    is_master: bool = False
    tenant: str | None = None
    team: str | None = None
    tier: str | None = None
    models: frozenset[str] | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def allowed(self, aliases: list[str]) -> list[str]:
        """The ones of ``aliases`` this key may use."""
        return aliases if self.models is None else [a for a in aliases if a in self.models]

    def check_model(self, alias: str) -> None:
        if self.models is not None and alias not in self.models:
            raise PermissionDenied(f"This key may not use the model `{alias}`.", param="model", code="model_not_allowed")


ANONYMOUS = Caller(name="anonymous")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class Authenticator:
    """Turns the presented credential into a ``Caller`` or raises 401."""

    def __init__(self, config: AuthConfig) -> None:
        self.enabled = config.enabled
        self._master = _digest(config.master_key.get_secret_value()) if config.master_key else None
        self._keys: dict[bytes, Caller] = {}
        for entry in config.keys:
            self._keys[_digest(entry.key.get_secret_value())] = Caller(
                name=entry.name,
                tenant=entry.tenant,
                team=entry.team,
                tier=entry.tier,
                models=frozenset(entry.models) if entry.models is not None else None,
                metadata=dict(entry.metadata),
            )

    def authenticate(self, authorization: str | None, api_key: str | None) -> Caller:
        """From ``Authorization: Bearer <key>`` or ``x-api-key: <key>``."""
        if not self.enabled:
            return ANONYMOUS
        key = api_key.strip() if api_key else None  # the same whitespace rule as a bearer token
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                key = value.strip()
        if not key:
            raise AuthenticationFailed(
                "Missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`.", code="missing_api_key"
            )
        digest = _digest(key)
        if self._master is not None and hmac.compare_digest(digest, self._master):
            return Caller(name="master", is_master=True)
        caller = self._keys.get(digest)
        if caller is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return caller
