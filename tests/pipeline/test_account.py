"""The account prices every answer: the cost header of a unary answer, ``cost_usd`` in a stream's
final usage, and a stream its client drops is still charged for its prompt and what it sent."""

from __future__ import annotations

import http.client
import time
from typing import Any

import openai
import orjson
import pytest

from switchyard.server.runner import GatewayThread
from tests.server.raw_http import request

MASTER = "sk-master"
KEY = "sk-budgeted"


def _post(url: str, body: dict[str, Any], key: str = KEY) -> tuple[int, dict[str, str], Any]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request("POST", "/v1/chat/completions", orjson.dumps(body),
                     {"content-type": "application/json", "authorization": f"Bearer {key}"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), orjson.loads(response.read())
    finally:
        conn.close()


def _spend(url: str, group_by: str = "key") -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request("GET", f"/admin/spend?group_by={group_by}", headers={"authorization": f"Bearer {MASTER}"})
        response = conn.getresponse()
        assert response.status == 200
        return orjson.loads(response.read())  # type: ignore[no-any-return]
    finally:
        conn.close()


def _config(**models: Any) -> dict[str, Any]:
    return {"auth": {"master_key": MASTER, "keys": [{"key": KEY, "name": "budgeted",
                                                     "budget": {"amount": 100, "period": "monthly"}}]},
            "models": models, "spend": {"records": True}, "reliability": {"retry": {"attempts": 1}}}


def test_a_unary_answer_carries_its_cost(start_gateway):
    gateway = start_gateway(_config(echo={"deployments": [{"provider": "fake", "model": "echo",
                                                           "price": {"input": 3, "output": 15}}]}))
    status, headers, body = _post(gateway.url, {"model": "echo", "messages": [{"role": "user", "content": "a b c d"}]})
    assert status == 200
    usage = body["usage"]
    assert float(headers["x-switchyard-cost-usd"]) == pytest.approx(
        usage["prompt_tokens"] * 3e-6 + usage["completion_tokens"] * 15e-6, rel=1e-12)


def test_an_unpriced_model_costs_zero_and_is_counted_as_unpriced(start_gateway):
    gateway = start_gateway(_config(local={"deployments": [{"provider": "fake", "model": "echo"}]}))
    status, headers, _ = _post(gateway.url, {"model": "local", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200 and headers["x-switchyard-cost-usd"] == "0"
    row = _spend(gateway.url)["data"][0]
    assert row["unpriced"] == 1 and row["cost_usd"] == 0


def test_a_streams_final_usage_carries_its_cost(mock_upstream, start_gateway):
    gateway = start_gateway(_config(gpt={"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                          "base_url": mock_upstream.base_url, "api_key": "sk-up"}]}))
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    chunks = list(client.chat.completions.create(
        model="gpt", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "count the cost of this stream"}]))
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens > 0
    # gpt-4o-mini in the genai-prices table: $0.15 input, $0.60 output per million tokens
    expected = usage.prompt_tokens * 0.15e-6 + usage.completion_tokens * 0.6e-6
    assert usage.model_extra["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert _spend(gateway.url)["total"]["cost_usd"] == pytest.approx(expected, rel=1e-9)


def test_a_stream_its_client_drops_is_charged_for_the_prompt_and_what_it_sent(start_gateway):
    gateway: GatewayThread = start_gateway(_config(slow={"deployments": [{"provider": "fake", "model": "slow",
                                                                          "price": {"input": 10, "output": 20}}]}))
    words = " ".join(f"word{i}" for i in range(60))
    host, port = gateway.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    conn.request("POST", "/v1/chat/completions", orjson.dumps(
        {"model": "slow", "stream": True, "messages": [{"role": "user", "content": words}]}),
        {"content-type": "application/json", "authorization": f"Bearer {KEY}"})
    response = conn.getresponse()
    assert response.status == 200
    seen = 0
    while seen < 4:
        line = response.fp.readline()
        if line.startswith(b"data: {"):
            seen += 1
    conn.sock.close()  # the client leaves mid-stream
    conn.close()
    deadline = time.monotonic() + 10
    rows: list[Any] = []
    while time.monotonic() < deadline and not rows:  # the gateway notices at its next write (0.05 s on)
        rows = _spend(gateway.url)["data"]
    assert rows, "no spend record for the dropped stream"
    row = rows[0]
    assert row["requests"] == 1 and row["estimated"] == 1 and row["errors"] == 1  # 499: the client left
    assert 4 <= row["completion_tokens"] < 60
    assert row["prompt_tokens"] > 60
    assert row["cost_usd"] == pytest.approx(row["prompt_tokens"] * 10e-6 + row["completion_tokens"] * 20e-6)


def test_admin_deployments_show_each_price_and_its_source(mock_upstream, start_gateway):
    gateway = start_gateway(_config(
        table={"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock_upstream.base_url,
                                "api_key": "sk-up"}]},
        configured={"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 3, "output": 15}}]},
        local={"deployments": [{"provider": "ollama", "model": "llama3.2"}]}))
    report = request(gateway.url, "GET", "/admin/deployments", headers={"authorization": f"Bearer {MASTER}"}).json()
    prices = {d["alias"]: d["price"] for d in report["deployments"]}
    assert prices["table"]["source"].startswith("genai-prices ") and prices["table"]["source"].endswith("openai/gpt-4o-mini")
    assert prices["table"]["per_million"]["input"] == 0.15 and prices["table"]["per_million"]["cache_read"] == 0.075
    assert prices["configured"] == {"priced": True, "source": "config", "per_million": {
        "input": 3.0, "output": 15.0, "cache_read": 3.0, "cache_write": 3.0, "request": 0.0}}
    assert prices["local"]["priced"] is False and "local model" in prices["local"]["source"]


@pytest.mark.parametrize(("alias", "rates"), [("claude", (3e-6, 15e-6)), ("gpt", (0.15e-6, 0.6e-6))])
def test_an_anthropic_stream_carries_its_cost_in_message_delta(mock_upstream, start_gateway, alias, rates):
    """/v1/messages streamed by the anthropic SDK: forwarded natively from an Anthropic upstream
    (claude) or translated from an OpenAI one (gpt), its message_delta's usage carries the cost the
    spend record and the budget are charged (prices from the genai-prices table)."""
    import anthropic

    upstream = {"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": mock_upstream.url,
                "api_key": "sk-up"} if alias == "claude" else {
        "provider": "openai", "model": "gpt-4o-mini", "base_url": mock_upstream.base_url, "api_key": "sk-up"}
    gateway = start_gateway(_config(**{alias: {"deployments": [upstream]}}))
    client = anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0)
    deltas = []
    with client.messages.stream(model=alias, max_tokens=200,
                                messages=[{"role": "user", "content": "price this stream for me"}]) as stream:
        for event in stream:
            if event.type == "message_delta":
                deltas.append(event.usage)
        final = stream.get_final_message()
    assert len(deltas) == 1
    cost = (deltas[0].model_extra or {}).get("cost_usd")
    usage = final.usage
    prompt = usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    assert usage.output_tokens > 0 and prompt > 0
    assert cost == pytest.approx(prompt * rates[0] + usage.output_tokens * rates[1], rel=1e-9)
    row = _spend(gateway.url)["data"][0]
    assert row["requests"] == 1 and row["errors"] == 0 and row["estimated"] == 0
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, usage.output_tokens)
    assert row["cost_usd"] == pytest.approx(cost, rel=1e-9)
