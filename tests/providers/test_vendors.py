"""Vendor quirks as data, Azure URL building and auth headers: pure, no network."""

from __future__ import annotations

import pytest

from switchyard.core.config import DeploymentConfig
from switchyard.core.messages import validate_chat
from switchyard.core.registry import Registry
from switchyard.providers import openai_format as wire
from switchyard.providers.azure import DEFAULT_API_VERSION, AzureOpenAIProvider
from switchyard.providers.openai import OpenAIProvider
from switchyard.providers.vendors import AI21, VLLM, Groq, HuggingFace, Mistral, Ollama, RunPod

VENDORS = ["openai", "azure", "vllm", "ollama", "together", "groq", "mistral", "deepseek", "fireworks", "openrouter",
           "openai_compatible", "huggingface", "ai21", "runpod"]


def _deployment(provider: str, **extra) -> DeploymentConfig:
    return DeploymentConfig(provider=provider, model="m", **extra)


def _body(cls, **fields):
    request = validate_chat({"model": "alias", "messages": [{"role": "user", "content": "hi"}], **fields})
    return wire.build_chat_body(request, "m", ask_usage=cls.stream_usage, drop=cls.drop_fields, rename=cls.rename_fields)


@pytest.mark.parametrize("name", VENDORS)
def test_every_vendor_is_registered_and_builds(name):
    cls = Registry(use_entry_points=False).get(name)
    provider = cls(_deployment(name, base_url="http://127.0.0.1:1/v1", api_key="sk-x"), None)
    assert provider.url("chat/completions").startswith("http://127.0.0.1:1")
    assert "sk-x" not in repr(provider)


def test_groq_drops_logprobs_fields():
    body = _body(Groq, logprobs=True, top_logprobs=2, logit_bias={"1": 2}, seed=1)
    assert not {"logprobs", "top_logprobs", "logit_bias"} & set(body)
    assert body["seed"] == 1


def test_mistral_renames_seed_and_drops_stream_options():
    body = _body(Mistral, seed=42, user="u", stream=True, stream_options={"include_usage": True})
    assert body["random_seed"] == 42 and "seed" not in body
    assert "stream_options" not in body and "user" not in body
    assert Mistral.stream_usage is False


def test_openai_compatible_vendors_keep_every_field():
    body = _body(VLLM, seed=42, logprobs=True, user="u", guided_json={"type": "object"})
    assert body["seed"] == 42 and body["logprobs"] is True and body["guided_json"] == {"type": "object"}


def test_default_base_urls_and_key_from_env(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk-env")
    groq = Groq(_deployment("groq"), None)
    assert groq.url("chat/completions") == "https://api.groq.com/openai/v1/chat/completions"
    assert groq.headers["authorization"] == "Bearer gsk-env"
    assert Ollama(_deployment("ollama"), None).url("embeddings") == "http://127.0.0.1:11434/v1/embeddings"
    assert "authorization" not in Ollama(_deployment("ollama"), None).headers


def test_config_key_wins_over_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    provider = OpenAIProvider(_deployment("openai", api_key="sk-config"), None)
    assert provider.headers["authorization"] == "Bearer sk-config"


def test_openai_organization_and_project_headers():
    provider = OpenAIProvider(_deployment("openai", api_key="k", options={"organization": "org-1", "project": "p"}), None)
    assert provider.headers["openai-organization"] == "org-1"
    assert provider.headers["openai-project"] == "p"
    assert provider.stream_headers["accept"] == "text/event-stream"


def test_deployment_headers_are_added():
    provider = OpenAIProvider(_deployment("openai", api_key="k", headers={"X-Extra": "1"}), None)
    assert provider.headers["x-extra"] == "1"


def test_check_config_requires_a_key(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    assert [field for field, _ in Groq.check_config(_deployment("groq"))] == ["api_key"]
    assert Groq.check_config(_deployment("groq", api_key="k")) == []
    monkeypatch.setenv("GROQ_API_KEY", "k")
    assert Groq.check_config(_deployment("groq")) == []


def test_check_config_requires_a_base_url_for_generic_servers():
    cls = Registry(use_entry_points=False).get("openai_compatible")
    assert [field for field, _ in cls.check_config(_deployment("openai_compatible"))] == ["base_url"]


def test_azure_url_deployment_and_api_version():
    provider = AzureOpenAIProvider(
        _deployment("azure", base_url="https://res.openai.azure.com/", api_key="az", api_version="2024-06-01"), None
    )
    assert provider.url("chat/completions") == (
        "https://res.openai.azure.com/openai/deployments/m/chat/completions?api-version=2024-06-01"
    )
    assert provider.url("embeddings").endswith("/openai/deployments/m/embeddings?api-version=2024-06-01")
    assert provider.headers["api-key"] == "az"
    assert "authorization" not in provider.headers


def test_azure_defaults_from_environment(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-env")
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    provider = AzureOpenAIProvider(_deployment("azure"), None)
    assert provider.url("chat/completions") == (
        f"https://env.openai.azure.com/openai/deployments/m/chat/completions?api-version={DEFAULT_API_VERSION}"
    )
    assert provider.headers["api-key"] == "az-env"
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
    assert AzureOpenAIProvider(_deployment("azure"), None).url("x").endswith("api-version=2025-01-01-preview")


def test_hugging_face_is_the_router_or_a_dedicated_endpoint():
    router = HuggingFace(_deployment("huggingface", api_key="hf_x"), None)
    assert router.url("chat/completions") == "https://router.huggingface.co/v1/chat/completions"
    endpoint = HuggingFace(_deployment("huggingface", api_key="hf_x",
                                       base_url="https://my-llama.us-east-1.aws.endpoints.huggingface.cloud/v1"), None)
    assert endpoint.url("chat/completions").startswith("https://my-llama.us-east-1.aws.endpoints.huggingface.cloud/v1/")
    assert router.headers["authorization"] == "Bearer hf_x"
    assert HuggingFace.check_config(_deployment("huggingface")) == [
        ("api_key", "required: set api_key or the HF_TOKEN environment variable")]


def test_ai21_sends_only_what_jamba_takes():
    body = _body(AI21, seed=1, user="u", logprobs=True, tool_choice="auto", presence_penalty=0.1,
                 max_completion_tokens=20, stream=True, stream_options={"include_usage": True}, n=2, stop=["x"])
    assert set(body) == {"model", "messages", "max_tokens", "stream", "n", "stop"}
    assert body["max_tokens"] == 20


async def test_ai21_asks_for_json_mode_where_a_schema_is_asked():
    from switchyard.providers.vendors import _json_mode

    request = validate_chat({"model": "a", "messages": [{"role": "user", "content": "hi"}], "response_format": {
        "type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}})
    assert _json_mode(request).body["response_format"] == {"type": "json_object"}
    plain = validate_chat({"model": "a", "messages": [{"role": "user", "content": "hi"}]})
    assert _json_mode(plain) is plain


def test_runpod_endpoints_by_id():
    provider = RunPod(_deployment("runpod", api_key="rp_x", options={"endpoint_id": "abc123xyz"}), None)
    assert provider.url("chat/completions") == "https://api.runpod.ai/v2/abc123xyz/openai/v1/chat/completions"
    assert RunPod.check_config(_deployment("runpod", api_key="rp_x")) == [
        ("options.endpoint_id", "required for provider 'runpod' (or give base_url)")]
    assert RunPod.check_config(_deployment("runpod", api_key="rp_x", options={"endpoint_id": "../x"}))[0][0] == (
        "options.endpoint_id")
    assert RunPod.check_config(_deployment("runpod", api_key="rp_x", base_url="http://127.0.0.1:1/v1")) == []
