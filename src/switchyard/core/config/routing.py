"""Config for routing: rules that pick a model alias, session stickiness,
balancer tuning, and per-deployment capability overrides.

```yaml
routing:
  rules:                        # evaluated in order; the first match wins
    - name: long-context
      when: {min_prompt_tokens: 8000}
      route: gemini-long
    - name: acme-vision
      when: {metadata: {tenant: acme}, needs: [vision]}
      route: gpt-4o
    - name: eu-tenants
      when: {metadata: {region: eu}}
      route: gpt-4o
      route_tags: [eu]            # only gpt-4o's deployments tagged eu
  sticky:
    session_from: ["header:x-session-id", "user", "metadata.session_id"]
    ttl: 3600
  latency: {decay: 0.3, explore: 0.05}
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from switchyard.core.config.base import Strict
from switchyard.core.config.selection import SelectConfig

Strategy = Literal["round_robin", "weighted", "least_busy", "latency", "cost", "headroom"]
Capability = Literal["tools", "vision", "json_schema", "embeddings"]


class CapabilitiesConfig(Strict):
    """Overrides of a deployment's built-in capabilities (unset keeps the built-in value)."""

    tools: bool | None = None
    vision: bool | None = None
    json_schema: bool | None = None
    embeddings: bool | None = None
    context_window: int | None = Field(default=None, ge=1, description="Prompt + output tokens the model accepts.")
    max_output_tokens: int | None = Field(default=None, ge=1)


class RuleMatch(Strict):
    """Conditions of a rule; all that are set must hold (an empty ``when`` always matches)."""

    models: list[str] | None = Field(default=None, description="Only for requests naming one of these aliases.")
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    regex: str | None = Field(default=None, description="Searched in the prompt text (case-insensitive).")
    keywords: list[str] | None = Field(default=None, description="Any of these words in the prompt (case-insensitive).")
    metadata: dict[str, str] | None = Field(default=None, description="Request metadata (or the key's tenant/team/tier).")
    headers: dict[str, str] | None = Field(default=None, description="Request headers (names case-insensitive).")
    tags: list[str] | None = Field(default=None, description="All of these in metadata.tags (a list or comma string).")
    needs: list[Capability] | None = Field(default=None, description="The request needs all of these.")
    cost_above: float | None = Field(
        default=None, ge=0, description="US dollars: the estimated cost on the requested model exceeds this."
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a valid regular expression: {exc}") from None
        return value

    @field_validator("headers")
    @classmethod
    def _lower(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return {k.lower(): v for k, v in value.items()} if value is not None else None


class RuleConfig(Strict):
    """``when`` the request matches, serve it with the alias ``route`` — or the one ``select``
    chooses for its content (``core/config/selection.py``)."""

    name: str
    when: RuleMatch = Field(default_factory=RuleMatch)
    route: str | None = Field(default=None, min_length=1)
    select: SelectConfig | None = Field(default=None, description="Choose the alias by the request's content.")
    route_tags: list[str] = Field(default_factory=list, description=(
        "Serve only with the deployments of `route` that carry all these tags (e.g. [eu])."))

    @model_validator(mode="after")
    def _route_or_select(self) -> RuleConfig:
        if (self.route is None) == (self.select is None):
            raise ValueError("a rule needs exactly one of route or select")
        return self

    @property
    def target(self) -> str:
        """The alias named by ``route``, or the selector's default."""
        if self.route is not None:
            return self.route
        assert self.select is not None
        return self.select.default


class StickyConfig(Strict):
    """Session stickiness: the same session id goes to the same deployment.

    ``session_from`` lists where the id is read, first found wins:
    ``header:<name>``, ``user`` (the body's ``user``), ``metadata.<key>``.
    The table lives in Redis when ``redis:`` is configured, else in memory.
    """

    enabled: bool = True
    session_from: list[str] = Field(default_factory=lambda: ["header:x-session-id", "user", "metadata.session_id"])
    ttl: float = Field(default=3600.0, gt=0, description="Seconds a session's home is remembered.")
    max_sessions: int = Field(default=100_000, ge=1, description="In-memory table bound (oldest dropped).")

    @field_validator("session_from")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        for source in value:
            ok = source == "user" or (source.startswith("header:") and len(source) > 7) or (
                source.startswith("metadata.") and len(source) > 9
            )
            if not ok:
                raise ValueError(f"unknown session source {source!r}: use header:<name>, user or metadata.<key>")
        return value


class LatencyConfig(Strict):
    """The latency strategy: EWMA weight of a new sample, and exploration share."""

    decay: float = Field(default=0.3, gt=0, le=1)
    explore: float = Field(default=0.05, ge=0, le=1)


class RoutingConfig(Strict):
    """The top-level ``routing:`` section."""

    rules: list[RuleConfig] = Field(default_factory=list)
    sticky: StickyConfig | None = None
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    expected_output_tokens: int = Field(
        default=256, ge=0, description="Output tokens assumed for cost estimates when max_tokens is unset."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> RoutingConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"duplicate rule name {rule.name!r}")
            seen.add(rule.name)
        return self
