"""The root of the config: one section per concern, each in its own module."""

from __future__ import annotations

from pydantic import Field, model_validator

from switchyard.core.config.agents import AgentsConfig
from switchyard.core.config.audit import AuditConfig
from switchyard.core.config.base import Strict
from switchyard.core.config.batch import BatchConfig, ProjectionsConfig
from switchyard.core.config.budgets import BudgetsConfig, SpendConfig
from switchyard.core.config.cache import CacheConfig
from switchyard.core.config.egress import TLSConfig
from switchyard.core.config.flows import FlowsConfig
from switchyard.core.config.governance import GovernanceConfig
from switchyard.core.config.guard import GuardConfig
from switchyard.core.config.limits import LimitsConfig
from switchyard.core.config.logging import LoggingConfig
from switchyard.core.config.mcp import McpConfig
from switchyard.core.config.metrics import MetricsConfig
from switchyard.core.config.models import ModelConfig
from switchyard.core.config.pipeline import PipelineConfig
from switchyard.core.config.reliability import ReliabilityConfig
from switchyard.core.config.responses import ResponsesConfig
from switchyard.core.config.retrieval import RetrievalConfig
from switchyard.core.config.routing import RoutingConfig
from switchyard.core.config.server import AuthConfig, ServerConfig
from switchyard.core.config.slo import SloConfig
from switchyard.core.config.storage import RedisConfig, StorageConfig
from switchyard.core.config.tracing import TracingConfig


class Config(Strict):
    """The whole gateway config, validated and frozen."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    redis: RedisConfig | None = None
    storage: StorageConfig = Field(default_factory=StorageConfig)
    limits: LimitsConfig | None = None
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    reliability: ReliabilityConfig = Field(default_factory=ReliabilityConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    tls: TLSConfig = Field(default_factory=TLSConfig, description="Upstream TLS trust for deployments without their own.")
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    spend: SpendConfig = Field(default_factory=SpendConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    mcp: McpConfig | None = Field(default=None, description="The MCP gateway at /mcp (off when absent).")
    batch: BatchConfig | None = Field(default=None, description="The Files and Batches API (on when present).")
    projections: ProjectionsConfig = Field(default_factory=ProjectionsConfig)
    tracing: TracingConfig | None = Field(default=None, description="OpenTelemetry over OTLP; absent: off.")
    slo: SloConfig | None = Field(default=None, description="SLO monitor and feedback; absent: off.")
    agents: AgentsConfig | None = Field(default=None, description="Agents by name (switchyard.agents); absent: none.")
    retrieval: RetrievalConfig | None = Field(default=None, description="POST /v1/retrieve over retrieval "
                                                                         "pipelines; absent: off.")
    flows: FlowsConfig | None = Field(default=None, description="Durable flows at /admin/flows; absent: off.")

    @model_validator(mode="after")
    def _records_need_a_database(self) -> Config:
        scheme = self.storage.url.get_secret_value().split(":", 1)[0].lower()
        if self.audit.requests and scheme in ("redis", "rediss", "unix"):
            raise ValueError("audit.requests needs storage.url to be sqlite:///…, postgresql://… or memory:// "
                             "(a Redis store keeps no audit log)")
        if self.spend.records and scheme in ("redis", "rediss", "unix"):
            raise ValueError("spend.records needs storage.url to be sqlite:///…, postgresql://… or memory:// "
                             "(a Redis store keeps no spend records)")
        if self.cache.backend == "redis" and self.redis is None:
            raise ValueError("cache.backend: redis needs the redis: section (the store replicas share)")
        if self.batch is not None and scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("batch needs storage.url to be sqlite:///… or postgresql://… (batches, their files and "
                             "results are kept in the durable store)")
        semantic = self.cache.semantic
        alias = semantic.embedding.alias if semantic is not None else None
        if alias is not None and alias not in self.models:
            raise ValueError(f"cache.semantic.embedding.alias: {alias!r} is not an alias of models:")
        return self

    @model_validator(mode="after")
    def _objectives_name_what_exists(self) -> Config:
        if self.slo is None:
            return self
        ids = {d.id or f"{alias}#{n}" for alias, model in self.models.items() for n, d in enumerate(model.deployments)}
        for n, objective in enumerate(self.slo.objectives):
            kind, value = objective.scope
            if kind == "alias" and value not in self.models:
                raise ValueError(f"slo.objectives.{n}.alias: {value!r} is not an alias of models")
            if kind == "deployment" and value not in ids:
                raise ValueError(f"slo.objectives.{n}.deployment: {value!r} is not a deployment id "
                                 "(its id, or <alias>#<n>)")
        return self

    @property
    def authenticates(self) -> bool:
        """Whether clients must present a key: a master key, static keys or OIDC admins are
        configured. Then virtual keys (the directory, ``storage.url``) are accepted too."""
        return self.auth.enabled or self.governance.oidc is not None
