"""The genai-prices reduction: a PriceSheet must price exactly as the table's own ``calc_price``."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import genai_prices
import pytest

from switchyard.core.config import DeploymentConfig
from switchyard.core.messages import Usage
from switchyard.pricing import PriceBook
from switchyard.pricing.table import lookup

# (our provider, model, the table's provider id): priced with cache prices, tiers, batch or off-peak hours.
MODELS = [
    ("openai", "gpt-4o-mini", "openai"), ("openai", "o3", "openai"), ("anthropic", "claude-sonnet-4-5", "anthropic"),
    ("anthropic", "claude-opus-4-1", "anthropic"), ("gemini", "gemini-2.5-pro", "google"),
    ("gemini", "gemini-2.5-flash", "google"), ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),
    ("cohere", "command-a-03-2025", "cohere"), ("groq", "llama-3.3-70b-versatile", "groq"),
    ("mistral", "mistral-large-latest", "mistral"), ("deepseek", "deepseek-chat", "deepseek"),
]
USAGES = [
    Usage(prompt_tokens=1, completion_tokens=1),
    Usage(prompt_tokens=2006, completion_tokens=300, cached_tokens=1920, reasoning_tokens=0),
    Usage(prompt_tokens=188_107, completion_tokens=393, cached_tokens=0, cache_write_tokens=188_086),
    Usage(prompt_tokens=250_000, completion_tokens=4000, cached_tokens=100_000, cache_write_tokens=20_000),
    Usage(prompt_tokens=3030, completion_tokens=120, cached_tokens=2000, cache_write_tokens=1000),
]
WHEN = [datetime(2026, 11, 26, 3, 0, tzinfo=UTC), datetime(2026, 11, 26, 20, 0, tzinfo=UTC)]


def _table_price(usage: Usage, model: str, provider_id: str, when: datetime, batch: bool = False) -> float:
    theirs = genai_prices.Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                                cache_read_tokens=usage.cached_tokens or 0,
                                cache_write_tokens=usage.cache_write_tokens or 0)
    context = {"processing": "batch"} if batch else None
    return float(genai_prices.calc_price(theirs, model, provider_id=provider_id, genai_request_timestamp=when,
                                         price_context=context).total_price)


@pytest.mark.parametrize(("provider", "model", "provider_id"), MODELS)
def test_the_sheet_prices_as_the_table_does(provider, model, provider_id):
    for when in WHEN:
        sheet = lookup(provider, model, when=when)
        assert sheet.priced, sheet.source
        for usage in USAGES:
            ours = sheet.cost(usage, moment=when.timestamp())
            assert ours == pytest.approx(_table_price(usage, model, provider_id, when), rel=1e-9, abs=1e-15), usage
            if sheet.batch is not None:
                assert sheet.cost(usage, batch=True, moment=when.timestamp()) == pytest.approx(
                    _table_price(usage, model, provider_id, when, batch=True), rel=1e-9, abs=1e-15)


def test_batch_and_tiers_and_off_peak_are_found_where_the_table_has_them():
    assert lookup("openai", "gpt-4o-mini").batch is not None
    assert lookup("anthropic", "claude-sonnet-4-5").tiers
    assert len(lookup("deepseek", "deepseek-chat").daily) >= 2


def test_local_unknown_and_foreign_models_are_unpriced_with_a_reason():
    assert not lookup("ollama", "llama3.2").priced
    assert "local" in lookup("vllm", "meta-llama/Llama-3.1-8B-Instruct").source
    unknown = lookup("openai", "no-such-model-xyz")
    assert not unknown.priced and "not in genai-prices" in unknown.source
    assert not lookup("openai_compatible", "some-model", "http://127.0.0.1:9/v1").priced
    assert not lookup("some_plugin", "m").priced
    # an OpenAI-compatible vendor is recognised by its endpoint
    assert lookup("openai_compatible", "grok-3", "https://api.x.ai/v1").source.endswith("x-ai/grok-3")


def test_the_book_prefers_the_config_and_asks_the_table_once():
    book = PriceBook()
    configured = DeploymentConfig(provider="openai", model="gpt-4o", price={"input": 1, "output": 2})
    assert book.for_deployment(configured).source == "config"
    plain = DeploymentConfig(provider="openai", model="gpt-4o")
    first = book.for_deployment(plain)
    assert first.source.endswith("openai/gpt-4o") and book.for_deployment(plain) is first


def test_a_gateway_of_local_and_configured_prices_never_loads_the_table():
    code = """
import sys, switchyard
config = {"models": {"echo": {"deployments": [{"provider": "fake", "model": "echo"}]},
                     "priced": {"deployments": [{"provider": "openai", "model": "gpt-4o", "price": {"input": 1}}]},
                     "local": {"deployments": [{"provider": "ollama", "model": "llama3"}]}}}
with switchyard.Client(config) as client:
    client.chat(model="echo", messages=[{"role": "user", "content": "hi"}])
print("genai_prices" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
