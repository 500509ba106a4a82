"""What each model can do, and what a request needs.

Built-in defaults come from a small table keyed by model-name pattern (the
families we know the documented limits of); anything else gets permissive
defaults (every ability, no known context window), so an unknown model is
never refused by guesswork. A deployment's ``capabilities:`` in the config
overrides any value.

The router drops deployments that lack what a request needs before the first
upstream call; when none is left the client gets a 400 naming the capability
(``CapabilityMissing``) or ``ContextWindowExceeded``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import CapabilityMissing, ContextWindowExceeded
from switchyard.core.tokens import TokenCounter, rough_count

ABILITIES = ("tools", "vision", "json_schema", "embeddings")
_IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})


@dataclass(frozen=True, slots=True)
class Capabilities:
    """One model's abilities; ``None`` limits mean "not known, not checked"."""

    tools: bool = True
    vision: bool = True
    json_schema: bool = True
    embeddings: bool = True
    context_window: int | None = None
    max_output_tokens: int | None = None

    def has(self, ability: str) -> bool:
        return bool(getattr(self, ability))

    @property
    def permissive(self) -> bool:
        return self == PERMISSIVE


PERMISSIVE = Capabilities()

_CHAT = dict(embeddings=False)
# (pattern searched in the lowercased upstream model name, capabilities); first match wins.
_TABLE: list[tuple[str, Capabilities]] = [
    (r"text-embedding|embed", Capabilities(tools=False, vision=False, json_schema=False, context_window=8191)),
    (r"gpt-4\.1", Capabilities(context_window=1_047_576, max_output_tokens=32_768, **_CHAT)),
    (r"gpt-4o", Capabilities(context_window=128_000, max_output_tokens=16_384, **_CHAT)),
    (r"gpt-4-turbo", Capabilities(json_schema=False, context_window=128_000, max_output_tokens=4_096, **_CHAT)),
    (r"gpt-3\.5", Capabilities(vision=False, json_schema=False, context_window=16_385, max_output_tokens=4_096, **_CHAT)),
    (r"(^|/)o1-mini", Capabilities(tools=False, vision=False, json_schema=False, context_window=128_000,
                                   max_output_tokens=65_536, **_CHAT)),
    (r"(^|/)o[134](-|$)", Capabilities(context_window=200_000, max_output_tokens=100_000, **_CHAT)),
    # Claude has no response_format; the Anthropic and Bedrock adapters serve json_schema
    # through output_config or a forced tool, so the gateway offers it.
    (r"claude-3-5|claude-3\.5", Capabilities(context_window=200_000, max_output_tokens=8_192, **_CHAT)),
    (r"claude-3-7|claude-3\.7", Capabilities(context_window=200_000, max_output_tokens=64_000, **_CHAT)),
    (r"claude-3", Capabilities(context_window=200_000, max_output_tokens=4_096, **_CHAT)),
    (r"claude-(opus|sonnet|haiku)-4|claude-4", Capabilities(context_window=200_000,
                                                           max_output_tokens=32_000, **_CHAT)),
    (r"gemini-1\.5-pro", Capabilities(context_window=2_097_152, max_output_tokens=8_192, **_CHAT)),
    (r"gemini-1\.5|gemini-2\.0", Capabilities(context_window=1_048_576, max_output_tokens=8_192, **_CHAT)),
    (r"gemini-2\.5", Capabilities(context_window=1_048_576, max_output_tokens=65_536, **_CHAT)),
    (r"command-r", Capabilities(vision=False, context_window=128_000, max_output_tokens=4_000, **_CHAT)),
    (r"command-a", Capabilities(vision=False, context_window=256_000, max_output_tokens=8_000, **_CHAT)),
    (r"jamba", Capabilities(vision=False, json_schema=False, context_window=256_000, max_output_tokens=4_096, **_CHAT)),
    (r"llama-?3\.2.*vision", Capabilities(context_window=128_000, **_CHAT)),
    (r"llama-?3\.[123]|llama-?4", Capabilities(vision=False, context_window=128_000, **_CHAT)),
    (r"llama-?3|llama3", Capabilities(vision=False, json_schema=False, context_window=8_192, **_CHAT)),
]
_COMPILED = [(re.compile(pattern), caps) for pattern, caps in _TABLE]
#: What a provider's wire format cannot carry, whatever its model: Replicate's language models take
#: a prompt and give text (no tools, no response formats).
_PROVIDER_LIMITS: dict[str, dict[str, bool]] = {"replicate": {"tools": False, "json_schema": False,
                                                              "embeddings": False}}


def builtin_capabilities(model: str) -> Capabilities:
    """The table's entry for an upstream model name (permissive when unknown)."""
    name = model.lower()
    for pattern, caps in _COMPILED:
        if pattern.search(name):
            return caps
    return PERMISSIVE


def capabilities_of(config: DeploymentConfig) -> Capabilities:
    """A deployment's capabilities: the built-in entry with the config's overrides."""
    caps = builtin_capabilities(config.model)
    limits = _PROVIDER_LIMITS.get(config.provider)
    if limits is not None:
        caps = replace(caps, **limits)
    override = config.capabilities
    if override is None:
        return caps
    return replace(caps, **{k: v for k, v in override.model_dump().items() if v is not None})


@dataclass(slots=True)
class Needs:
    """What one request requires of a model."""

    abilities: tuple[str, ...] = ()
    #: A cheap upper-side estimate of prompt tokens; refined only near a limit.
    rough_tokens: int = 0
    output_tokens: int = 0
    #: The tokenizer's count, once something needed it.
    exact_tokens: int | None = None


def request_text(body: dict[str, Any]) -> str:
    """The prompt's text (message contents and text parts), for rules and estimates."""
    messages = body.get("messages")
    if not messages:
        value = body.get("input", body.get("prompt"))
        return value if isinstance(value, str) else ""
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "\n".join(parts)


def needs_of(request: Any) -> Needs:
    """What ``request`` needs: abilities from its body, plus a rough token estimate."""
    body = getattr(request, "body", None)
    if not isinstance(body, dict):
        return Needs()
    if "messages" not in body:
        if "input" in body:  # embeddings
            return Needs(("embeddings",), rough_count(request_text(body)))
        return Needs()
    abilities: list[str] = []
    if body.get("tools") or body.get("functions"):
        abilities.append("tools")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        abilities.append("json_schema")
    chars = 0
    for message in body["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    if part.get("type") in _IMAGE_PARTS:
                        if "vision" not in abilities:
                            abilities.append("vision")
                    else:
                        chars += len(str(part.get("text", "")))
    output = getattr(request, "max_tokens", None) or 0
    return Needs(tuple(abilities), (chars + 3) // 4 + 3 * len(body["messages"]) + 3, output)


def check(caps: Capabilities, needs: Needs, request: Any, tokens: TokenCounter | None) -> str | None:
    """Why a model with ``caps`` cannot serve the request (``None`` when it can)."""
    for ability in needs.abilities:
        if not caps.has(ability):
            return ability
    if caps.max_output_tokens is not None and needs.output_tokens > caps.max_output_tokens:
        return "max_output_tokens"
    window = caps.context_window
    if window is not None and needs.rough_tokens + needs.output_tokens > window * 0.7:
        if prompt_tokens(request, needs, tokens) + needs.output_tokens > window:
            return "context_window"
    return None


def prompt_tokens(request: Any, needs: Needs, tokens: TokenCounter | None) -> int:
    """The exact (tokenizer) count when a counter is available, else the rough one."""
    if needs.exact_tokens is not None:
        return needs.exact_tokens
    body = getattr(request, "body", None)
    if tokens is None or not isinstance(body, dict) or "messages" not in body:
        return needs.rough_tokens
    needs.exact_tokens = tokens.count_messages(body["messages"], body.get("tools"))
    return needs.exact_tokens


def refuse(alias: str, reason: str, needs: Needs, window: int | None, limit: int | None = None) -> Exception:
    """The 400 for a request no deployment of ``alias`` can serve, naming why."""
    if reason == "context_window":
        prompt = needs.exact_tokens if needs.exact_tokens is not None else needs.rough_tokens
        return ContextWindowExceeded(
            f"The request needs about {prompt + needs.output_tokens} tokens (prompt + max_tokens) "
            f"but the model `{alias}` has a context window of {window} tokens.",
            param="messages",
        )
    if reason == "max_output_tokens":
        return CapabilityMissing(
            f"max_tokens is {needs.output_tokens} but the model `{alias}` writes at most {limit} output tokens.",
            param="max_tokens",
        )
    param = {"tools": "tools", "vision": "messages", "json_schema": "response_format", "embeddings": "model"}[reason]
    what = {"tools": "tools (function calling)", "vision": "image inputs (vision)",
            "json_schema": "structured output (response_format json_schema)", "embeddings": "embeddings"}[reason]
    return CapabilityMissing(f"The model `{alias}` does not support {what}: capability `{reason}` is missing.",
                             param=param)
