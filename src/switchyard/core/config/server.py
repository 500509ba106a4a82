"""Config for the HTTP server and for client authentication."""

from __future__ import annotations

from pydantic import Field, SecretStr

from switchyard.core.config.base import Strict
from switchyard.core.config.budgets import Budget


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    log_level: str = "info"


class ClientKey(Strict):
    """A static client key from the config file."""

    key: SecretStr
    name: str
    tenant: str | None = None
    team: str | None = None
    tier: str | None = None
    models: list[str] | None = Field(default=None, description="Model aliases this key may use; all when unset.")
    metadata: dict[str, str] = Field(default_factory=dict)
    budget: Budget | None = Field(default=None, description="This key's budget in US dollars (see Budget).")


class AuthConfig(Strict):
    """Client authentication. With neither a master key nor keys (nor ``governance.oidc``), the
    gateway is open (local use); otherwise virtual keys from the directory are accepted too."""

    master_key: SecretStr | None = None
    keys: list[ClientKey] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.master_key is not None or bool(self.keys)
