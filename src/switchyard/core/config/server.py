"""Config for the HTTP server and for client authentication."""

from __future__ import annotations

from pydantic import Field, SecretStr

from switchyard.core.config.base import Strict
from switchyard.core.config.budgets import Budget
from switchyard.core.config.guard import PolicyName


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024,
                                  description="Request line and headers together; larger get 431.")
    max_headers: int = Field(default=100, ge=8, le=10_000, description="More request headers get 431.")
    header_timeout: float = Field(default=10.0, gt=0, le=3600,
                                  description="Seconds from connecting (or a request's first byte) to its last header.")
    body_timeout: float = Field(default=60.0, gt=0, le=3600,
                                description="Seconds from the last header to the last byte of the body; else 408.")
    keepalive_timeout: float = Field(default=5.0, gt=0, le=3600,
                                     description="Seconds an idle keep-alive connection stays open.")
    log_level: str = "info"
    backlog: int = Field(default=4096, ge=16, le=65535,
                         description="Connections the kernel queues before the server accepts them "
                                     "(capped by net.core.somaxconn); a burst of new streams larger "
                                     "than this is refused by the kernel.")
    ui: bool = Field(default=True, description="Serve the web dashboard at /ui (static files; every figure it "
                                               "shows comes from the admin API with the signed-in credential).")


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
    guard: PolicyName | None = Field(default=None, description="The guard policy for this key's requests (guard.policies; "
                                                        "`off`: none), over the alias's.")
    regions: list[str] | None = Field(default=None, min_length=1,
                                      description="Data residency: this key's requests are only ever sent to "
                                                  "deployments in these regions.")


class AuthConfig(Strict):
    """Client authentication. With neither a master key nor keys (nor ``governance.oidc``), the
    gateway is open (local use); otherwise virtual keys from the directory are accepted too."""

    master_key: SecretStr | None = None
    keys: list[ClientKey] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.master_key is not None or bool(self.keys)
