"""Config for admission control: rate and token limits, priority classes, the queue.

Example::

    limits:
      algorithm: sliding_window   # at most N in any rolling window | gcra (smooth refill, ~2x after idle)
      backend: redis              # memory (one process) | redis (shared by every replica)
      on_backend_error: open      # open: admit while Redis is unreachable; closed: answer 503
      default_max_tokens: 1024    # the completion estimate when a request sets no max_tokens
      rules:
        - {scope: tenant, rpm: 600, tpm: 200000, tpd: 5000000}   # every tenant, each its own
        - {scope: tenant, match: acme, rpm: 3000}                # acme instead of the above
        - {scope: key, match: batch-key, rpm: 60}
        - {scope: model, match: gpt-4o, tpm: 1000000}
      tenants:
        acme: {tier: gold, weight: 2}
      priority:
        classes: [high, normal, low]   # highest first
        default: normal
        tiers: {gold: high, free: low}
        min_share: 0.05
      queue: {concurrency: 64, max_size: 1000, max_wait: 10}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from switchyard.core.config.base import Strict

Scope = Literal["global", "key", "team", "tenant", "user", "model", "deployment"]


class LimitRule(Strict):
    """Limits for one scope: all of its values (each counted apart) or the one named by ``match``.

    A rule with ``match`` replaces the scope's catch-all rule for that value.
    """

    scope: Scope
    match: str | None = Field(default=None, description="One value of the scope; unset means every value.")
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens (prompt + completion) per minute.")
    tpd: int | None = Field(default=None, ge=1, description="Tokens per day.")
    hard: bool = Field(default=True, description="End a stream that crosses this rule's token limit mid-way.")

    @model_validator(mode="after")
    def _some_limit(self) -> LimitRule:
        if self.rpm is None and self.tpm is None and self.tpd is None:
            raise ValueError("a limit rule needs at least one of rpm, tpm, tpd")
        return self


class TenantLimits(Strict):
    """A tenant's tier (its priority class, through ``priority.tiers``) and its fair-queuing weight."""

    tier: str | None = None
    weight: float = Field(default=1.0, gt=0)


class PriorityConfig(Strict):
    classes: list[str] = Field(default_factory=lambda: ["high", "normal", "low"], min_length=1,
                               description="Priority classes, highest first.")
    default: str = "normal"
    tiers: dict[str, str] = Field(default_factory=dict, description="Key or tenant tier -> class.")
    header: str = Field(default="x-switchyard-priority", description="Lets a client lower (never raise) its class.")
    min_share: float = Field(default=0.05, ge=0, le=0.5,
                             description="Share of queue dispatches each waiting class is guaranteed.")

    @model_validator(mode="after")
    def _known_classes(self) -> PriorityConfig:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes: names must be unique")
        if self.default not in self.classes:
            raise ValueError(f"default: {self.default!r} is not one of classes {self.classes}")
        for tier, name in self.tiers.items():
            if name not in self.classes:
                raise ValueError(f"tiers.{tier}: {name!r} is not one of classes {self.classes}")
        return self


class QueueConfig(Strict):
    """Waiting instead of refusing when capacity is short."""

    concurrency: int | None = Field(default=None, ge=1, description="Requests in flight per process; unset = no cap.")
    max_size: int = Field(default=1000, ge=0, description="Requests waiting at once (for slots, and apart "
                                                          "for rate limits); beyond, 429.")
    max_wait: float = Field(default=10.0, ge=0, description="Seconds a request may wait (for a slot or a limit).")


class LimitsConfig(Strict):
    """Admission control. Without this section every request is admitted at no cost
    (deployments' own ``rpm``/``tpm`` are still enforced, in memory)."""

    algorithm: Literal["sliding_window", "gcra"] = Field(
        default="sliding_window",
        description="sliding_window: never more than the limit in any rolling window of its length; "
                    "gcra: smooth refill (one unit every period/limit), allows up to ~2x in a window after idle.")
    window_slots: int = Field(default=1000, ge=10, le=4000,
                              description="sliding_window: time slots a window is kept in (60 ms for a minute, "
                                          "86.4 s for a day); room returns at most one slot late, never early.")
    backend: Literal["memory", "redis"] = "memory"
    on_backend_error: Literal["open", "closed"] = "open"
    retry_backend_after: float = Field(default=1.0, gt=0, description="Seconds before retrying an unreachable backend.")
    default_max_tokens: int = Field(default=1024, ge=1)
    estimator: Literal["tokenizer", "rough"] = Field(default="tokenizer",
                                                      description="How prompts are counted before the call.")
    learn_from_headers: bool = Field(default=True,
                                     description="Pause a deployment whose x-ratelimit-remaining-* runs out.")
    rules: list[LimitRule] = Field(default_factory=list)
    tenants: dict[str, TenantLimits] = Field(default_factory=dict)
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)

    @model_validator(mode="after")
    def _unique_rules(self) -> LimitsConfig:
        seen = set()
        for index, rule in enumerate(self.rules):
            if (rule.scope, rule.match) in seen:
                raise ValueError(f"rules.{index}: a second rule for scope {rule.scope!r} match {rule.match!r}")
            seen.add((rule.scope, rule.match))
        for name, tenant in self.tenants.items():
            if tenant.tier is not None and tenant.tier not in self.priority.tiers \
                    and tenant.tier not in self.priority.classes:
                raise ValueError(f"tenants.{name}.tier: {tenant.tier!r} is neither in priority.tiers nor a class")
        return self
