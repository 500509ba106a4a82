"""OpenAI-compatible vendors: a few lines of data each over one shared driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk
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


class HuggingFace(OpenAICompatible):
    """Hugging Face Inference: the Inference Providers router (``model`` as the Hub names it,
    optionally ``:<provider>`` or ``:fastest``/``:cheapest``), or a dedicated Inference
    Endpoint with its own ``base_url`` (``https://<endpoint>.endpoints.huggingface.cloud/v1``,
    TGI or vLLM, ``model: tgi`` or the served name)."""

    name: ClassVar[str] = "huggingface"
    env_key: ClassVar[str | None] = "HF_TOKEN"
    default_base_url: ClassVar[str | None] = "https://router.huggingface.co/v1"
    key_required: ClassVar[bool] = True


class AI21(OpenAICompatible):
    """AI21 Studio's Jamba chat (``/studio/v1/chat/completions``): OpenAI's shape with fewer
    fields (no seed, logprobs, penalties, ``tool_choice`` or ``stream_options``: usage comes
    in the last chunk unasked, and is shown to a client that asked for it); ``response_format``
    is ``json_object`` only."""

    name: ClassVar[str] = "ai21"
    env_key: ClassVar[str | None] = "AI21_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.ai21.com/studio/v1"
    key_required: ClassVar[bool] = True
    drop_fields: ClassVar[tuple[str, ...]] = (
        "stream_options", "seed", "user", "metadata", "logprobs", "top_logprobs", "logit_bias", "tool_choice",
        "parallel_tool_calls", "presence_penalty", "frequency_penalty", "store", "service_tier", "reasoning_effort",
        "modalities", "audio", "prediction", "web_search_options", "verbosity", "safety_identifier",
        "prompt_cache_key")
    rename_fields: ClassVar[dict[str, str]] = {"max_completion_tokens": "max_tokens"}

    async def chat(self, request: ChatRequest, call: Call) -> ChatResponse:
        return await super().chat(_json_mode(request), call)

    async def stream(self, request: ChatRequest, call: Call) -> AsyncIterator[Chunk]:
        return await super().stream(_json_mode(request), call)


def _json_mode(request: ChatRequest) -> ChatRequest:
    """A ``json_schema`` response format as JSON mode, the one AI21 has (``validation:`` on the
    alias checks the schema: see Response validation)."""
    fmt = request.body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return request.with_body({**request.body, "response_format": {"type": "json_object"}})
    return request


class RunPod(OpenAICompatible):
    """A RunPod serverless endpoint's OpenAI-compatible route (the vLLM worker):
    ``options.endpoint_id`` makes ``https://api.runpod.ai/v2/<endpoint_id>/openai/v1``
    (or give that ``base_url`` yourself)."""

    name: ClassVar[str] = "runpod"
    env_key: ClassVar[str | None] = "RUNPOD_API_KEY"
    key_required: ClassVar[bool] = True
    api_root: ClassVar[str] = "https://api.runpod.ai/v2"

    def __init__(self, deployment: DeploymentConfig, http: Any = None) -> None:
        super().__init__(deployment, http)
        endpoint = deployment.options.get("endpoint_id")
        if not deployment.base_url and endpoint:
            self.base_url = f"{self.api_root}/{endpoint}/openai/v1"

    @classmethod
    def check_config(cls, deployment: DeploymentConfig) -> list[tuple[str, str]]:
        problems = [p for p in super().check_config(deployment) if p[0] != "base_url"]
        endpoint = deployment.options.get("endpoint_id")
        if not deployment.base_url and not endpoint:
            problems.append(("options.endpoint_id", "required for provider 'runpod' (or give base_url)"))
        elif endpoint is not None and (not isinstance(endpoint, str) or not endpoint.replace("-", "").isalnum()):
            problems.append(("options.endpoint_id", "must be the endpoint's id (letters, digits, dashes)"))
        return problems
