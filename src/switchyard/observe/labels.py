"""Label values of the gateway's metrics, bounded by construction.

Every value comes from the config or from a fixed table, never from what a
client sends: no key, user or request id, no model name a client made up.

- ``alias``: a configured alias as written; a wildcard's instance
  (``groq/llama-3``) as its pattern (``groq/*``); anything else ``other``.
- ``deployment``: the deployment's id; a wildcard instance's as its pattern's
  (``groq/*#0``); ``none`` when no deployment was tried (a 404, a refusal).
- ``provider``: the config's provider name; ``gen_ai_provider_name`` the
  OpenTelemetry GenAI name for it (``aws.bedrock``, ``gcp.gemini``...).
- ``gen_ai_request_model``: the upstream model of a configured deployment; a
  wildcard instance's when its provider lists it among its known models, else ``other``.
- ``status_class`` ``2xx``/``4xx``/``5xx``; ``error_type`` an error class of the
  gateway's own tree (``UpstreamTimeout``...), ``cancelled`` or ``_OTHER``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from switchyard.core.call import Kind
from switchyard.core.errors import DeploymentSaturated, RateLimited, SwitchyardError, UpstreamError

OTHER = "other"
NONE = "none"

#: gen_ai.provider.name for the providers the OpenTelemetry GenAI conventions name; the others keep their own.
GENAI_PROVIDERS = {
    "openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic", "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai", "bedrock": "aws.bedrock", "cohere": "cohere", "groq": "groq",
    "mistral": "mistral_ai", "deepseek": "deepseek",
}

#: gen_ai.operation.name of each kind of call.
OPERATIONS = {Kind.CHAT: "chat", Kind.EMBED: "embeddings", Kind.COMPLETE: "text_completion", Kind.RERANK: "rerank"}

_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}

#: The gateway's own refusals (never an upstream's), by error code, as ``reason``.
REJECTIONS = {
    "rate_limit_exceeded": "limit",
    "request_too_large_for_limit": "limit",
    "queue_full": "queue_full",
    "queue_timeout": "queue_timeout",
    "deployment_at_capacity": "deployment_capacity",
    "budget_exceeded": "budget",
    "budget_backend_unreachable": "budget_backend",
    "guard_blocked": "guard",
    "output_blocked": "guard",
    "moderation_flagged": "moderation",
    "guard_unavailable": "guard_error",
    "region_unavailable": "region",
}

#: What ``x-switchyard-cache`` may say (the response cache).
CACHE_RESULTS = frozenset({"hit", "miss", "bypass"})


def class_of(status: int) -> str:
    """``2xx``, ``4xx``... of an HTTP status."""
    return _CLASSES.get(status // 100, "5xx")


def status_class(error: BaseException) -> str:
    """The status class of the answer a failed call gave."""
    return class_of(error.status) if isinstance(error, SwitchyardError) else "5xx"


def error_type(error: BaseException) -> str:
    if isinstance(error, SwitchyardError):
        return type(error).__name__
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return "_OTHER"


def rejection(error: BaseException) -> str | None:
    """``reason`` when ``error`` is one of the gateway's own refusals (a limit, the
    queue, a budget), else None."""
    if not isinstance(error, SwitchyardError) or (isinstance(error, UpstreamError) and not error.local):
        return None
    reason = REJECTIONS.get(error.code or "")
    if reason is None and isinstance(error, RateLimited) and not isinstance(error, DeploymentSaturated):
        return "limit"
    return reason


@dataclass(frozen=True, slots=True)
class DeploymentLabels:
    deployment: str
    provider: str
    genai_provider: str
    model: str


class AliasLabels:
    """Alias label values for the config's aliases (see the module docstring)."""

    def __init__(self, models: dict[str, Any]) -> None:
        self.plain = frozenset(a for a in models if not a.endswith("/*"))
        self._by_config = {id(config): alias for alias, config in models.items()}
        self._wildcards = sorted(((a[:-1], a) for a in models if a.endswith("/*")), key=lambda p: -len(p[0]))

    def of_group(self, group: Any) -> str:
        """The label of a resolved model group (every instance of a wildcard shares its config)."""
        if group is None:
            return OTHER
        return self._by_config.get(id(group.config), OTHER)

    def pattern(self, alias: str) -> str | None:
        """A configured alias itself, the wildcard ``alias`` is an instance of, or None."""
        if alias in self.plain:
            return alias
        for prefix, pattern in self._wildcards:
            if alias.startswith(prefix) and len(alias) > len(prefix):
                return pattern
        return None

    def deployment(self, deployment_id: str, alias: str, config: Any, known_models: Any = ()) -> DeploymentLabels:
        """The labels of the deployment ``deployment_id`` of ``alias``, built from ``config``."""
        provider = config.provider
        genai = GENAI_PROVIDERS.get(provider, provider)
        pattern = self.pattern(alias)
        if pattern == alias:
            return DeploymentLabels(deployment_id, provider, genai, config.model)
        if pattern is None:
            return DeploymentLabels(OTHER, provider, genai, OTHER)
        label = config.id or f"{pattern}#{deployment_id.rpartition('#')[2]}"
        model = config.model if config.model in (known_models or ()) else OTHER
        return DeploymentLabels(label, provider, genai, model)


NO_DEPLOYMENT = DeploymentLabels(NONE, NONE, NONE, NONE)
OTHER_DEPLOYMENT = DeploymentLabels(OTHER, OTHER, OTHER, OTHER)
