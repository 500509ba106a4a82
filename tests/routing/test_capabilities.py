"""The capability table, overrides, and refusing requests a model cannot serve."""

import pytest

from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import CapabilityMissing, ContextWindowExceeded
from switchyard.routing.capabilities import PERMISSIVE, builtin_capabilities, capabilities_of

from .helpers import build, call, chat

IMAGE = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "http://x/cat.png"}}]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("gpt-4o-mini", "context_window", 128_000),
        ("gpt-4.1", "context_window", 1_047_576),
        ("gpt-3.5-turbo", "vision", False),
        ("o3-mini", "tools", True),
        ("claude-3-5-sonnet-20241022", "max_output_tokens", 8_192),
        ("anthropic.claude-3-haiku-20240307-v1:0", "vision", True),
        ("gemini-1.5-pro", "context_window", 2_097_152),
        ("gemini-2.5-flash", "max_output_tokens", 65_536),
        ("command-r-plus", "vision", False),
        ("llama3.1:8b", "vision", False),
        ("text-embedding-3-small", "tools", False),
        ("gpt-4o", "embeddings", False),
    ],
)
def test_builtin_table(model, field, value):
    assert getattr(builtin_capabilities(model), field) == value


def test_unknown_models_are_permissive_and_overrides_win():
    assert builtin_capabilities("my-finetune-7b") == PERMISSIVE
    config = DeploymentConfig(provider="openai", model="gpt-4o", capabilities={"vision": False, "context_window": 99})
    caps = capabilities_of(config)
    assert caps.vision is False and caps.context_window == 99 and caps.tools is True


def group(*models, **override):
    deployments = [{"provider": "fake", "model": m, "id": m, **override} for m in models]
    catalog, router = build({"g": {"deployments": deployments}})
    return catalog.resolve("g"), router


@pytest.mark.parametrize(
    ("request_", "error", "param", "names"),
    [
        (chat(IMAGE), CapabilityMissing, "messages", "vision"),
        (chat("hi", response_format=SCHEMA), CapabilityMissing, "response_format", "json_schema"),
        (chat("word " * 17_000), ContextWindowExceeded, "messages", "16385"),
        (chat("word " * 13_000, max_tokens=4_000), ContextWindowExceeded, "messages", "context window"),
        (chat("hi", max_tokens=5_000), CapabilityMissing, "max_tokens", "4096"),
    ],
)
def test_refusals_name_the_capability(request_, error, param, names):
    g, router = group("gpt-3.5-turbo")
    with pytest.raises(error) as info:
        router.candidates(g, request_, call())
    assert info.value.status == 400 and info.value.param == param and names in info.value.message


def test_tools_refused_by_override():
    g, router = group("llama3.1:8b", capabilities={"tools": False})
    with pytest.raises(CapabilityMissing, match="tools"):
        router.candidates(g, chat("hi", tools=TOOLS), call())
    assert router.candidates(g, chat("hi"), call())


def test_incapable_deployments_are_filtered_first():
    g, router = group("gpt-3.5-turbo", "gpt-4o")
    for _ in range(4):
        assert [d.id for d in router.candidates(g, chat(IMAGE), call())] == ["gpt-4o"]
    assert len(router.candidates(g, chat("plain"), call())) == 2


def test_near_the_window_the_tokenizer_decides():
    g, router = group("gpt-3.5-turbo")
    # ~12k tokens of "word " is over 70% of the 16,385 window but fits: counted exactly, accepted.
    assert router.candidates(g, chat("word " * 12_000), call())
