"""The embedded default config: what ``switchyard serve`` runs with no file.

The built-in ``fake`` provider serves ``fake/*`` (``fake/echo``, ``fake/slow``,
``fake/fail``, ...), and every provider whose key is in the environment serves
``<provider>/*`` — ``OPENAI_API_KEY`` enables ``openai/gpt-4o`` and so on.
``SWITCHYARD_MASTER_KEY``, when set, turns on authentication.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from switchyard.core.config import Config, parse_config

# provider name -> environment variables that must all be set to enable it
ENV_PROVIDERS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "azure": ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"),
    "together": ("TOGETHER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "gemini": ("GEMINI_API_KEY",),
    "cohere": ("COHERE_API_KEY",),
    "vertex": ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"),
    "bedrock": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "huggingface": ("HF_TOKEN",),
    "ai21": ("AI21_API_KEY",),
    "replicate": ("REPLICATE_API_TOKEN",),
}


def default_config_data(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    models: dict[str, Any] = {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}
    for provider, variables in ENV_PROVIDERS.items():
        if all(env.get(v) for v in variables):
            models[f"{provider}/*"] = {"deployments": [{"provider": provider, "model": "*"}]}
    data: dict[str, Any] = {"models": models}
    if env.get("SWITCHYARD_MASTER_KEY"):
        data["auth"] = {"master_key": env["SWITCHYARD_MASTER_KEY"]}
    return data


def default_config(env: Mapping[str, str] | None = None) -> Config:
    return parse_config(default_config_data(env), source="embedded default")
