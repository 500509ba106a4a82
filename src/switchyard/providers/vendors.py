"""OpenAI-compatible vendors: a few lines of data each over one shared driver."""

from __future__ import annotations

from typing import ClassVar

from switchyard.providers.openai_compatible import OpenAICompatibleProvider


class OpenAICompatible(OpenAICompatibleProvider):
    """Any other OpenAI-compatible server: give ``base_url`` (and ``api_key`` if it wants one)."""

    name: ClassVar[str] = "openai_compatible"


class VLLM(OpenAICompatibleProvider):
    name: ClassVar[str] = "vllm"
    env_key: ClassVar[str | None] = "VLLM_API_KEY"
    default_base_url: ClassVar[str | None] = "http://127.0.0.1:8000/v1"


class Ollama(OpenAICompatibleProvider):
    """Ollama's OpenAI endpoint; no key."""

    name: ClassVar[str] = "ollama"
    default_base_url: ClassVar[str | None] = "http://127.0.0.1:11434/v1"


class Together(OpenAICompatibleProvider):
    name: ClassVar[str] = "together"
    env_key: ClassVar[str | None] = "TOGETHER_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.together.xyz/v1"
    key_required: ClassVar[bool] = True


class Groq(OpenAICompatibleProvider):
    """Groq rejects ``logprobs``, ``logit_bias`` and ``n`` > 1."""

    name: ClassVar[str] = "groq"
    env_key: ClassVar[str | None] = "GROQ_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.groq.com/openai/v1"
    key_required: ClassVar[bool] = True
    drop_fields: ClassVar[tuple[str, ...]] = ("logprobs", "top_logprobs", "logit_bias")


class Mistral(OpenAICompatibleProvider):
    """Mistral names the seed ``random_seed`` and has no ``stream_options``."""

    name: ClassVar[str] = "mistral"
    env_key: ClassVar[str | None] = "MISTRAL_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.mistral.ai/v1"
    key_required: ClassVar[bool] = True
    drop_fields: ClassVar[tuple[str, ...]] = ("stream_options", "logit_bias", "user", "logprobs", "top_logprobs")
    stream_usage: ClassVar[bool] = False
    rename_fields: ClassVar[dict[str, str]] = {"seed": "random_seed"}


class DeepSeek(OpenAICompatibleProvider):
    name: ClassVar[str] = "deepseek"
    env_key: ClassVar[str | None] = "DEEPSEEK_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.deepseek.com/v1"
    key_required: ClassVar[bool] = True


class Fireworks(OpenAICompatibleProvider):
    name: ClassVar[str] = "fireworks"
    env_key: ClassVar[str | None] = "FIREWORKS_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.fireworks.ai/inference/v1"
    key_required: ClassVar[bool] = True


class OpenRouter(OpenAICompatibleProvider):
    name: ClassVar[str] = "openrouter"
    env_key: ClassVar[str | None] = "OPENROUTER_API_KEY"
    default_base_url: ClassVar[str | None] = "https://openrouter.ai/api/v1"
    key_required: ClassVar[bool] = True
