"""Provider registry: names to provider classes, loaded lazily.

Core names built-in providers by import path only and never imports them
itself; third-party packages add providers through the ``switchyard.providers``
entry-point group (``name = "package.module:Class"``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from switchyard.core.errors import InvalidRequest

ENTRY_POINT_GROUP = "switchyard.providers"

BUILTIN_PROVIDERS: dict[str, str] = {
    "fake": "switchyard.providers.fake:FakeProvider",
    "openai": "switchyard.providers.openai:OpenAIProvider",
    "azure": "switchyard.providers.azure:AzureOpenAIProvider",
    "vllm": "switchyard.providers.vendors:VLLM",
    "ollama": "switchyard.providers.vendors:Ollama",
    "together": "switchyard.providers.vendors:Together",
    "groq": "switchyard.providers.vendors:Groq",
    "mistral": "switchyard.providers.vendors:Mistral",
    "deepseek": "switchyard.providers.vendors:DeepSeek",
    "fireworks": "switchyard.providers.vendors:Fireworks",
    "openrouter": "switchyard.providers.vendors:OpenRouter",
    "openai_compatible": "switchyard.providers.vendors:OpenAICompatible",
    "gemini": "switchyard.providers.gemini:GeminiProvider",
    "vertex": "switchyard.providers.vertex:VertexProvider",
    "cohere": "switchyard.providers.cohere:CohereProvider",
    "anthropic": "switchyard.providers.anthropic:AnthropicProvider",
    "bedrock": "switchyard.providers.bedrock:BedrockProvider",
    "ollama_chat": "switchyard.providers.ollama:OllamaChatProvider",
}


class UnknownProvider(InvalidRequest):
    code = "unknown_provider"


class Registry:
    """Maps provider names to classes; one instance per app, no global state."""

    def __init__(self, extra: dict[str, str | type] | None = None, *, use_entry_points: bool = True) -> None:
        self._targets: dict[str, str | type] = dict(BUILTIN_PROVIDERS)
        if use_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._targets.setdefault(ep.name, ep.value)
        if extra:
            self._targets.update(extra)
        self._loaded: dict[str, type] = {}

    def names(self) -> list[str]:
        return sorted(self._targets)

    def register(self, name: str, target: str | type) -> None:
        self._targets[name] = target
        self._loaded.pop(name, None)

    def get(self, name: str) -> Any:
        """The provider class registered under ``name``."""
        cls = self._loaded.get(name)
        if cls is not None:
            return cls
        target = self._targets.get(name)
        if target is None:
            known = ", ".join(self.names())
            raise UnknownProvider(f"Unknown provider {name!r}; known providers: {known}", param="provider")
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module_name), attr)
        else:
            cls = target
        self._loaded[name] = cls
        return cls
