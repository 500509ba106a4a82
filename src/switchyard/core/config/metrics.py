"""Config for the Prometheus metrics at ``GET /metrics``: on or off, who may read them, buckets."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from switchyard.core.config.base import Strict

#: The OpenTelemetry GenAI conventions' boundaries for durations and for token counts.
GENAI_SECONDS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
GENAI_TOKENS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class Buckets(Strict):
    """Histogram boundaries (upper bounds; ``+Inf`` is always added)."""

    request: tuple[float, ...] = Field(
        default=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0),
        description="switchyard_request_duration_seconds and switchyard_time_to_first_token_seconds")
    overhead: tuple[float, ...] = Field(
        default=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
        description="switchyard_gateway_overhead_seconds")
    chunk: tuple[float, ...] = Field(
        default=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        description="switchyard_time_per_output_chunk_seconds")
    queue: tuple[float, ...] = Field(
        default=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        description="switchyard_queue_wait_seconds")
    upstream: tuple[float, ...] = Field(
        default=GENAI_SECONDS,
        description="gen_ai_client_operation_duration_seconds and ..._time_to_first_chunk_seconds")
    tokens: tuple[float, ...] = Field(default=GENAI_TOKENS, description="gen_ai_client_token_usage")

    @field_validator("*")
    @classmethod
    def _ascending(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("needs at least one boundary")
        if value[0] <= 0:
            raise ValueError("boundaries must be positive")
        if any(later <= earlier for earlier, later in zip(value, value[1:])):
            raise ValueError("boundaries must be strictly increasing")
        return value


class MetricsConfig(Strict):
    """Prometheus metrics at ``GET /metrics`` (off unless ``enabled``).

    Who may read them: with ``token`` set, a scraper sending ``Authorization:
    Bearer <token>`` (the master key is accepted too); without it, the master
    key when auth is on, anyone when it is off; ``public: true`` opens the
    route to anyone even when auth is on (a scraper on a private network).
    """

    enabled: bool = Field(default=False, description="Serve GET /metrics and record the figures.")
    token: SecretStr | None = Field(default=None, description="A bearer token for scrapers; a secret.")
    public: bool = Field(default=False, description="No credential needed, even when auth is on.")
    flush_interval: float = Field(
        default=1.0, gt=0, le=60,
        description="With several processes (PROMETHEUS_MULTIPROC_DIR): how often each one writes its "
                    "figures to the shared directory; a scrape sees the others' at most this old.")
    buckets: Buckets = Field(default_factory=Buckets)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # unset, or an empty ${ENV:-}
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 24`)")
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> MetricsConfig:
        if self.public and self.token is not None:
            raise ValueError("public: true and a token contradict each other: choose one")
        return self
