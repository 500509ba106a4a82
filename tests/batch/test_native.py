"""Aliases with ``batch.mode: native``: the whole batch goes to the provider's own batch API — OpenAI's
Files and Batches, Anthropic's Message Batches, spoken by the mock upstream — and every line is priced at
the provider's batch rate in spend."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

CHAT = "/v1/chat/completions"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_native_batch_runs_at_the_provider_and_is_priced_at_its_batch_rate(provider: str, tmp_path: Path,
                                                                            mock_upstream: Any, start_gateway: Any):
    deployment: dict[str, Any] = {"provider": provider, "api_key": "sk-up", "price": {"input": 4, "output": 8,
                                                                                       "batch": 0.5}}
    if provider == "openai":
        deployment.update(model="gpt-4o-mini", base_url=mock_upstream.base_url)
    else:
        deployment.update(model="claude-sonnet-4-5", base_url=mock_upstream.url)
    gateway = start_gateway({
        "storage": {"url": f"sqlite:///{tmp_path / 'gw.db'}"}, "spend": {"records": True},
        "batch": {"sweep_interval": 0.05, "native_poll_interval": 0.05, "lease": 1},
        "models": {"native": {"batch": {"mode": "native"}, "deployments": [deployment]}}})
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    content = b"\n".join(orjson.dumps({"custom_id": f"n{i}", "method": "POST", "url": CHAT, "body": {
        "model": "native", "max_tokens": 50, "messages": [{"role": "user", "content": f"native {i}"}]}})
        for i in range(6))
    uploaded = client.files.create(file=("n.jsonl", io.BytesIO(content)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
    deadline = time.monotonic() + 30
    while batch.status != "completed":
        assert time.monotonic() < deadline and batch.status == "in_progress", batch
        time.sleep(0.05)  # the API is polled
        batch = client.batches.retrieve(batch.id)
    assert batch.request_counts is not None and batch.request_counts.completed == 6
    assert mock_upstream.mock.settings.batches.created == 1  # one provider batch, not six live calls
    chat_path = "/v1/chat/completions" if provider == "openai" else "/v1/messages"
    assert mock_upstream.mock.count(chat_path) == 0
    lines = [orjson.loads(x) for x in client.files.content(batch.output_file_id).content.splitlines()]
    assert sorted(line["custom_id"] for line in lines) == [f"n{i}" for i in range(6)]
    assert all(line["response"]["body"]["choices"][0]["message"]["content"] == f"native {line['custom_id'][1:]}"
               for line in lines)
    import urllib.request

    report = orjson.loads(urllib.request.urlopen(f"{gateway.url}/admin/spend?group_by=alias").read())
    row = report["data"][0]
    assert row["alias"] == "native" and row["requests"] == 6 and row["prompt_tokens"] > 0
    assert row["cost_usd"] == pytest.approx((row["prompt_tokens"] * 4 + row["completion_tokens"] * 8) / 2e6)
    assert batch.usage is not None and batch.usage.input_tokens == row["prompt_tokens"]


def test_an_alias_whose_provider_has_no_batch_api_is_refused_natively(tmp_path: Path, start_gateway: Any):
    gateway = start_gateway({
        "storage": {"url": f"sqlite:///{tmp_path / 'gw.db'}"}, "batch": {},
        "models": {"local": {"batch": {"mode": "native"}, "deployments": [{"provider": "fake", "model": "echo"}]}}})
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    line = orjson.dumps({"custom_id": "a", "method": "POST", "url": CHAT,
                         "body": {"model": "local", "messages": [{"role": "user", "content": "x"}]}})
    uploaded = client.files.create(file=("a.jsonl", io.BytesIO(line)), purpose="batch")
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h")
    assert refused.value.body["param"] == "input_file_id" and "no batch API" in refused.value.body["message"]  # type: ignore[index]
