"""Budgets across real gateway processes sharing the real Redis, driven as users drive them.

The official ``openai`` SDK spends a budgeted key until the gateway refuses it: refused once the
spend exceeds the budget, never before, and the SDK does not retry the refusal. Then three
``switchyard serve`` processes take concurrent load on one budget: the total spent never passes
the budget by more than one request's cost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from tests.server.raw_http import request

MASTER = "sk-master-e2e"
KEY = "sk-budgeted-e2e"
PROMPT = "Tell me about the budget of this key, in a few words please, and then stop."


def _config(mock: Any, redis_url: str, prefix: str, amount: float) -> dict[str, Any]:
    return {
        "auth": {"master_key": MASTER,
                 "keys": [{"key": KEY, "name": "budgeted", "budget": {"amount": amount, "period": "daily"}}]},
        "redis": {"url": redis_url, "prefix": prefix},
        "spend": {"records": True},
        "models": {"gpt": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
                                            "api_key": "sk-upstream"}]}},
    }


def test_the_openai_sdk_spends_a_budgeted_key_until_it_is_refused(mock_upstream, start_gateway_process, redis_url,
                                                                   redis_prefix):
    budget = 0.0004
    gateway = start_gateway_process(_config(mock_upstream, redis_url, redis_prefix, budget))
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY)  # the SDK's default retries stay on
    spent, costs = 0.0, []
    refusal = None
    for _ in range(300):
        try:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt", max_tokens=40, messages=[{"role": "user", "content": PROMPT}])
        except openai.RateLimitError as exc:
            refusal = exc
            break
        assert spent <= budget, "admitted although the spend had exceeded the budget"
        answer = raw.parse()
        cost = float(raw.headers["x-switchyard-cost-usd"])
        # gpt-4o-mini in the genai-prices table: $0.15 input, $0.60 output per million tokens
        assert cost == pytest.approx(answer.usage.prompt_tokens * 0.15e-6 + answer.usage.completion_tokens * 0.6e-6)
        spent += cost
        costs.append(cost)
    assert refusal is not None, "never refused"
    assert spent > budget, "refused before the spend exceeded the budget"
    assert spent - budget <= costs[-1]
    assert len(costs) >= 10
    body = refusal.body
    assert refusal.status_code == 429 and body["code"] == "budget_exceeded" and body["type"] == "insufficient_quota"
    assert refusal.response.headers["x-should-retry"] == "false"
    assert refusal.response.headers["x-switchyard-budget"] == "key=budgeted daily"
    with pytest.raises(openai.RateLimitError):  # and it stays refused
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "again"}])
    client.close()
    assert mock_upstream.count("/v1/chat/completions") == len(costs)  # no refused request went upstream
    report = request(gateway.url, "GET", "/admin/spend?group_by=key", headers={"authorization": f"Bearer {MASTER}"})
    row = report.json()["data"][0]
    # every attempt was recorded once: the SDK retried none of the refusals
    assert row["requests"] == len(costs) + 2 and row["errors"] == 2
    assert row["cost_usd"] == pytest.approx(spent)


async def _load(urls: list[str], workers: int, limit: int, seconds: float) -> tuple[list[float], int, int]:
    """Concurrent clients spread over the gateways until each is refused (bounded in count and time)."""
    costs: list[float] = []
    refused = 0
    sent = 0
    deadline = time.monotonic() + seconds
    body = orjson.dumps({"model": "gpt", "max_tokens": 40, "messages": [{"role": "user", "content": PROMPT}]})
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}

    async def worker(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal refused, sent
        while sent < limit and time.monotonic() < deadline:
            sent += 1
            url = urls[(index + sent) % len(urls)]
            async with session.post(f"{url}/v1/chat/completions", data=body, headers=headers) as response:
                data = await response.read()
                if response.status == 429:
                    assert orjson.loads(data)["error"]["code"] == "budget_exceeded"
                    refused += 1
                    return
                assert response.status == 200, data
                costs.append(float(response.headers["x-switchyard-cost-usd"]))

    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(worker(session, i) for i in range(workers)))
    return costs, refused, sent


def test_three_gateways_under_concurrent_load_overspend_at_most_one_requests_cost(
        mock_upstream, start_gateway_process, redis_url, redis_prefix):
    budget = 0.0015
    gateways = [start_gateway_process(_config(mock_upstream, redis_url, redis_prefix, budget)) for _ in range(3)]
    urls = [g.url for g in gateways]
    costs, refused, sent = asyncio.run(_load(urls, workers=30, limit=3000, seconds=90))
    assert refused == 30 and sent < 3000, (refused, sent)
    # In flight reservations may have refused the last workers while spend was still under the budget:
    # one at a time, on each gateway in turn, spend until refused.
    more, refused_again, _ = asyncio.run(_load(urls, workers=1, limit=300, seconds=60))
    assert refused_again == 1
    total = sum(costs) + sum(more)
    largest = max(costs + more)
    assert budget < total <= budget + largest, (total, budget, largest)
    assert len(costs) >= 30  # the load was concurrent, and the budget was worth many requests
    assert mock_upstream.count("/v1/chat/completions") == len(costs) + len(more)
