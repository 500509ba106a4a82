"""Config for model aliases and the deployments behind them."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from switchyard.core.config.base import Strict
from switchyard.core.config.batch import AliasBatch
from switchyard.core.config.cache import AliasCache
from switchyard.core.config.egress import TLSConfig, check_proxy_url
from switchyard.core.config.guard import PolicyName
from switchyard.core.config.reliability import Fallbacks
from switchyard.core.config.routing import CapabilitiesConfig, Strategy
from switchyard.core.config.validation import AliasValidation


class Timeouts(Strict):
    """Seconds. ``request`` bounds one attempt; ``first_token`` and ``idle`` apply to streams."""

    connect: float = Field(default=5.0, gt=0)
    request: float = Field(default=600.0, gt=0)
    first_token: float | None = Field(default=None, gt=0)
    idle: float | None = Field(default=None, gt=0)


class Connections(Strict):
    """This deployment's own pool of upstream connections (HTTP/1.1: a stream holds one
    for its whole length). When all ``max`` are busy a request waits at most ``wait``
    seconds for one, then gets a 503 ``connection_pool_full`` with ``Retry-After``
    (the gateway's own limit: not counted against the deployment's health)."""

    max: int = Field(default=10_000, ge=1, le=1_000_000)
    wait: float = Field(default=5.0, gt=0, le=3600)


class Price(Strict):
    """US dollars per million tokens; replaces the price table's for this deployment.

    ``cached_input`` (prompt tokens read from the provider's cache) and
    ``cache_write`` (written to it) default to ``input``; ``batch`` is the
    share of the price paid for batch processing (``0.5``: half).
    """

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    batch: float | None = Field(default=None, gt=0, le=1)


class DeploymentConfig(Strict):
    """One upstream model at one endpoint with one key."""

    provider: str
    model: str = Field(description="The upstream model (or Azure deployment) name; '*' in a wildcard alias.")
    id: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Sent with every request; values are secrets.")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    connections: Connections = Field(default_factory=Connections)
    region: str | None = None
    weight: float = Field(default=1.0, ge=0)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    price: Price | None = None
    tags: list[str] = Field(default_factory=list)
    capabilities: CapabilitiesConfig | None = Field(default=None, description="Overrides of the built-in capabilities.")
    options: dict[str, Any] = Field(default_factory=dict, description="Provider-specific settings.")
    tls: TLSConfig | None = Field(default=None, description="This deployment's TLS trust (default: the top-level tls).")
    proxy: SecretStr | None = Field(
        default=None, description="http://[user:password@]host:port to reach this upstream through, whatever "
                                  "HTTPS_PROXY / HTTP_PROXY / NO_PROXY say; a secret.")
    http2: bool = Field(default=False, description="Offer HTTP/2 (ALPN) to an https upstream; HTTP/1.1 if it declines.")

    _proxy = field_validator("proxy")(check_proxy_url)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value


class ModelConfig(Strict):
    """A model alias (what clients send) and the deployments that can serve it."""

    deployments: list[DeploymentConfig] = Field(min_length=1)
    description: str | None = None
    strategy: Strategy = Field(default="round_robin", description="How requests are balanced over the deployments.")
    fallbacks: Fallbacks = Field(default_factory=Fallbacks, description="Other aliases to try, by error class.")
    region: str | None = Field(default=None, description="Preferred region for this alias.")
    cache: AliasCache | None = Field(default=None, description="Cache this alias's answers (see the cache: section).")
    guard: PolicyName | None = Field(default=None, description="The guard policy of this alias (guard.policies; "
                                                        "`off`: none), unless the caller's key names one.")
    batch: AliasBatch = Field(default_factory=AliasBatch, description="How this alias's batches run (batch:).")
    validation: AliasValidation | None = Field(default=None, description="Check JSON and tool-call answers; "
                                                                          "ask again when invalid.")
    experiment: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                   description="Name this weighted split an A/B experiment: its deployments are "
                                               "the variants (GET /admin/experiments/{name}).")

    @model_validator(mode="after")
    def _experiment_is_a_split(self) -> ModelConfig:
        if self.experiment is not None and (self.strategy != "weighted" or len(self.deployments) < 2):
            raise ValueError("experiment: needs strategy: weighted and two deployments or more (the variants)")
        return self
