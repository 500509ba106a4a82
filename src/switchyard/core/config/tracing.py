"""Config for OpenTelemetry traces and metrics over OTLP (``tracing:``; absent: off).

::

    tracing:
      endpoint: http://127.0.0.1:4318     # the collector's OTLP/HTTP base: /v1/traces and /v1/metrics
      headers: {authorization: "Bearer ${OTLP_TOKEN}"}   # secrets: never printed
      service_name: switchyard
      sample_ratio: 1.0                   # traces kept (metrics count every request)
      capture_content: false              # true: prompts and answers on the spans
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from switchyard.core.config.base import Strict


class TracingConfig(Strict):
    """Spans and GenAI metrics exported over OTLP/HTTP (protobuf) to a collector.

    The request path only records plain values into a bounded buffer; a
    background task encodes them and posts them in batches. A full buffer drops
    (and counts) what does not fit, never making a request wait.
    """

    endpoint: str = Field(description="The collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318; "
                                      "spans go to <endpoint>/v1/traces, metrics to <endpoint>/v1/metrics.")
    headers: dict[str, SecretStr] = Field(default_factory=dict,
                                          description="Sent with every export (a collector's token); secrets.")
    service_name: str = Field(default="switchyard", min_length=1, max_length=256,
                              description="The resource's service.name.")
    resource: dict[str, str] = Field(default_factory=dict,
                                     description="More resource attributes (deployment.environment.name...).")
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0,
                                description="Share of traces kept, by trace id; a client's traceparent decides "
                                            "for its own trace. Metrics count every request regardless.")
    capture_content: bool = Field(default=False, description="Record prompts and answers on the spans "
                                                             "(gen_ai.input.messages, gen_ai.output.messages).")
    content_max_chars: int = Field(default=4000, ge=16, le=1_000_000,
                                   description="Recorded content is cut to this many characters.")
    metrics: bool = Field(default=True, description="Also export the gen_ai.client.* metrics.")
    buffer: int = Field(default=10_000, ge=16, le=1_000_000,
                        description="Requests held for the exporter; past it new ones are dropped (counted).")
    batch: int = Field(default=512, ge=1, le=100_000, description="Requests per export request at most.")
    export_interval: float = Field(default=1.0, gt=0, le=60, description="Seconds between span exports.")
    metrics_interval: float = Field(default=10.0, gt=0, le=3600, description="Seconds between metric exports.")
    timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds an export request may take.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:4318")
        if parts.query or parts.fragment:
            raise ValueError("must have no query or fragment")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_" for c in name):
                raise ValueError(f"header name {name[:64]!r} is not a valid HTTP header name")
        return {name.lower(): secret for name, secret in value.items()}

    @property
    def traces_url(self) -> str:
        return self.endpoint + "/v1/traces"

    @property
    def metrics_url(self) -> str:
        return self.endpoint + "/v1/metrics"
