"""Config of the response cache: the ``cache:`` section and an alias's ``cache:``.

The section says where answers are kept and how callers are kept apart; an
alias opts in with a ``cache:`` of its own (``{}`` takes every default)::

    cache:
      backend: memory            # memory (this process) | redis (the redis: store, shared by replicas)
      partition: tenant          # whose entries are whose: tenant | team | key (from the caller's key)
      ttl: 1h
      max_bytes: 268435456       # the LRU's bound, by the bytes of the answers kept
    models:
      chat:
        cache: {ttl: 10m}
        deployments: [{provider: fake, model: echo}]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from switchyard.core.config.base import Strict
from switchyard.core.config.budgets import duration_seconds
from switchyard.core.config.semantic import AliasSemantic, SemanticConfig

MIB = 1024 * 1024


def _seconds(value: Any) -> float | None:
    return None if value is None else duration_seconds(value)


class CacheConfig(Strict):
    """``cache:`` — the store, the partition and the bounds every cached alias shares."""

    backend: Literal["memory", "redis"] = Field(
        default="memory", description="memory: this process, LRU by bytes; redis: the redis: store, so replicas "
                                      "share entries and coalesce identical requests onto one upstream call.")
    partition: Literal["tenant", "team", "key"] = Field(
        default="tenant", description="What keeps callers' entries apart, from the caller's key (never from the "
                                      "request): its tenant, its team, or the key itself; a caller without a "
                                      "tenant (team) is kept apart by its key.")
    ttl: float = Field(default=3600.0, description="How long an answer is kept (1h, 10m, or seconds); an alias "
                                                   "may set its own.")
    max_bytes: int = Field(default=256 * MIB, ge=1024, le=1 << 40,
                           description="The bytes of answers kept at most; the least recently used go first.")
    max_entry_bytes: int = Field(default=MIB, ge=256, le=1 << 30, description="Larger answers are not kept.")
    coalesce: bool = Field(default=True, description="Identical cacheable requests in flight together make one "
                                                     "upstream call (an alias may say otherwise).")
    stream_buffer_bytes: int = Field(
        default=4 * MIB, ge=1024, le=1 << 30,
        description="What an in-flight stream keeps for late joiners and slow readers; one that falls further "
                    "behind than this is ended with an error event.")
    max_in_flight: int = Field(default=10_000, ge=1, le=10_000_000,
                               description="In-flight answers shared at once; past it, requests go alone.")
    lock_ttl: float = Field(default=5.0, ge=0.5, le=300.0,
                            description="redis: how long a replica's claim on an upstream call lasts unless "
                                        "renewed (every third of it); a follower whose leader stopped renewing "
                                        "takes over or fails, never hangs.")
    semantic: SemanticConfig | None = Field(
        default=None, description="The semantic cache, for the aliases that opt in (cache.semantic on an alias); "
                                  "unset: its defaults.")

    _ttl = field_validator("ttl", mode="before")(_seconds)


class AliasCache(Strict):
    """An alias's ``cache:``: cached at all (its presence), and what may be."""

    ttl: float | None = Field(default=None, description="This alias's entries' life (default: cache.ttl).")
    nondeterministic: bool = Field(
        default=False, description="Also cache requests that are not deterministic (temperature above 0 and no "
                                   "seed); off: only temperature 0 or a seed.")
    tool_calls: bool = Field(default=False, description="Keep answers that call tools.")
    errors: bool = Field(default=False, description="Keep the upstream's refusals of the request itself (4xx: "
                                                    "content policy, context length); never rate limits or "
                                                    "outages.")
    coalesce: bool | None = Field(default=None, description="Coalesce identical requests (default: cache.coalesce).")
    joinable: bool = Field(
        default=False, description="Make every stream of this alias joinable by its request id, cacheable or not "
                                    "(cacheable ones always are); each is then read through a shared buffer.")
    semantic: AliasSemantic | bool = Field(
        default=False, description="Also answer prompts that mean the same as a kept one (true, or "
                                   "{threshold: ...}); see cache.semantic.")

    _ttl = field_validator("ttl", mode="before")(_seconds)
