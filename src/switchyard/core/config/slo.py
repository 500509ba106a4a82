"""Config for the SLO monitor and quality feedback (``slo:``; absent: off).

::

    slo:
      webhook: https://hooks.example.com/slo     # breaches, recoveries and breaker trips are POSTed here
      objectives:
        - {alias: chat, availability: 0.995, window: 1h}
        - {alias: chat, latency_p95: 2.5, window: 10m}
        - {deployment: "chat#0", ttft_p95: 0.8}
        - {provider: anthropic, error_rate: 0.02, min_requests: 50}
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from switchyard.core.config.base import Strict
from switchyard.core.config.budgets import duration_seconds

#: What an objective may measure, each with what it is compared to.
MEASURES = ("availability", "error_rate", "latency_p95", "ttft_p95")
SCOPES = ("alias", "deployment", "provider")


class Objective(Strict):
    """One objective: a scope (exactly one of ``alias``, ``deployment``, ``provider``)
    and a measure (exactly one of ``availability``, ``error_rate``, ``latency_p95``,
    ``ttft_p95``) over a rolling ``window``.

    - ``availability``: the share of requests answered without a server-side failure
      (5xx: upstream errors, timeouts, breakers open) is at least this, e.g. 0.995;
    - ``error_rate``: the share of requests that failed in any way (4xx refusals
      included; clients that hung up are not counted) is at most this;
    - ``latency_p95``: 95% of requests complete within this many seconds;
    - ``ttft_p95``: 95% of streams send their first token within this many seconds.
    """

    name: str | None = Field(default=None, max_length=200, description="Shown in /admin/slo and alerts.")
    alias: str | None = None
    deployment: str | None = None
    provider: str | None = None
    availability: float | None = Field(default=None, gt=0, lt=1)
    error_rate: float | None = Field(default=None, gt=0, lt=1)
    latency_p95: float | None = Field(default=None, gt=0, description="seconds")
    ttft_p95: float | None = Field(default=None, gt=0, description="seconds")
    window: float = Field(default=300.0, description="The rolling window: 5m, 1h, 1d or seconds.")
    min_requests: int = Field(default=20, ge=1, description="Fewer requests in the window: no verdict (no_data).")

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float:
        seconds = duration_seconds(value)
        if not 10 <= seconds <= 30 * 86400:
            raise ValueError("must be between 10 seconds and 30 days")
        return seconds

    @model_validator(mode="after")
    def _one_scope_one_measure(self) -> Objective:
        scopes = [s for s in SCOPES if getattr(self, s) is not None]
        if len(scopes) != 1:
            raise ValueError(f"needs exactly one of {', '.join(SCOPES)}")
        measures = [m for m in MEASURES if getattr(self, m) is not None]
        if len(measures) != 1:
            raise ValueError(f"needs exactly one of {', '.join(MEASURES)}")
        return self

    @property
    def scope(self) -> tuple[str, str]:
        """``("alias", "chat")``: what the objective watches."""
        for kind in SCOPES:
            value = getattr(self, kind)
            if value is not None:
                return kind, value
        raise AssertionError("validated: one scope")

    @property
    def measure(self) -> tuple[str, float]:
        """``("availability", 0.995)``: what is measured and its target."""
        for kind in MEASURES:
            value = getattr(self, kind)
            if value is not None:
                return kind, float(value)
        raise AssertionError("validated: one measure")

    @property
    def label(self) -> str:
        """The objective's name: its own, or ``alias=chat availability``."""
        if self.name:
            return self.name
        kind, value = self.scope
        return f"{kind}={value} {self.measure[0]}"


class SloConfig(Strict):
    """Objectives evaluated on every request's end; alerts to one webhook; quality feedback."""

    objectives: tuple[Objective, ...] = Field(default=(), max_length=1000)
    webhook: str | None = Field(default=None, description="Where alerts are POSTed as JSON; unset: logged only.")
    breaker_alerts: bool = Field(default=True, description="Alert when a deployment's breaker opens and closes.")
    alert_timeout: float = Field(default=5.0, gt=0, le=60, description="Seconds a webhook POST may take.")
    feedback_window: int = Field(
        default=100_000, ge=100, le=10_000_000,
        description="Recent request ids POST /v1/feedback can score (the oldest are forgotten first).")

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _names_unique(self) -> SloConfig:
        seen: set[str] = set()
        for objective in self.objectives:
            if objective.label in seen:
                raise ValueError(f"two objectives are named {objective.label!r}: give one a name")
            seen.add(objective.label)
        return self
