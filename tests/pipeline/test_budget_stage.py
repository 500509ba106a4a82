"""The budget stage: the estimate reserved before the call, the real cost settled after it,
nothing kept after a failure, and a stream that crosses its budget cut with an error event."""

from __future__ import annotations

import asyncio
import http.client
from typing import Any

import orjson
import pytest

import switchyard
from switchyard.core.call import Call
from switchyard.core.errors import UpstreamError

KEY = "sk-budgeted"


def _config(amount: float, **extra: Any) -> dict[str, Any]:
    return {"auth": {"keys": [{"key": KEY, "name": "budgeted", "budget": {"amount": amount, "period": "daily"}}]},
            "models": {"echo": {"deployments": [{"provider": "fake", "model": "echo",
                                                 "price": {"input": 1, "output": 1000}}]},
                       "failing": {"deployments": [{"provider": "fake", "model": "fail",
                                                    "price": {"input": 1, "output": 1000}}]}},
            "reliability": {"retry": {"attempts": 1}}, **extra}


async def _room(client: switchyard.AsyncClient, amount: float) -> float:
    """What the key's budget has left: reserve the whole budget, read the room, give it back."""
    services = client.services
    assert services is not None and services.budgets is not None
    caller = services.auth.authenticate(f"Bearer {KEY}", None)
    holds = await services.budgets.reserve(caller.budgets, amount)
    await holds.settle(Call("probe"))  # no cost: a refund
    return amount + holds.room


def test_the_real_cost_is_settled_and_a_failure_keeps_nothing():
    async def run() -> None:
        async with switchyard.AsyncClient(_config(1.0), api_key=KEY) as client:
            answer = await client.chat(model="echo", messages=[{"role": "user", "content": "one two three"}])
            usage = answer.usage
            assert usage is not None
            cost = usage.prompt_tokens * 1e-6 + usage.completion_tokens * 1e-3
            assert await _room(client, 1.0) == pytest.approx(1.0 - cost, abs=1e-12)
            for _ in range(3):
                with pytest.raises(UpstreamError):
                    await client.chat(model="failing", messages=[{"role": "user", "content": "x " * 100}])
            assert await _room(client, 1.0) == pytest.approx(1.0 - cost, abs=1e-12)

    asyncio.run(run())


def test_a_stream_that_crosses_its_budget_is_cut_with_an_error_event(start_gateway):
    gateway = start_gateway(_config(0.01, budgets={"default_max_tokens": 5}))
    host, port = gateway.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    words = " ".join(f"w{i}" for i in range(80))
    conn.request("POST", "/v1/chat/completions", orjson.dumps(
        {"model": "echo", "stream": True, "messages": [{"role": "user", "content": words}]}),
        {"content-type": "application/json", "authorization": f"Bearer {KEY}"})
    response = conn.getresponse()
    assert response.status == 200
    events = [line[6:] for line in response.read().split(b"\n") if line.startswith(b"data: ")]
    conn.close()
    assert events[-1] != b"[DONE]"
    error = orjson.loads(events[-1])["error"]
    assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
    assert "budget" in error["message"] and "key `budgeted`" in error["message"]
    sent = sum(1 for event in events[:-1] if orjson.loads(event)["choices"][0]["delta"].get("content"))
    # Reserved: 5 tokens of output (default_max_tokens); room left then: about 3 more at $1000 per million.
    assert 5 <= sent <= 12, sent


def test_a_stream_with_max_tokens_is_bounded_by_its_reservation_and_not_watched(start_gateway):
    gateway = start_gateway(_config(0.01, budgets={"default_max_tokens": 5}))
    host, port = gateway.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    conn.request("POST", "/v1/chat/completions", orjson.dumps(
        {"model": "echo", "stream": True, "max_tokens": 50, "messages": [{"role": "user", "content": "a b c d e f g h i"}]}),
        {"content-type": "application/json", "authorization": f"Bearer {KEY}"})
    body = conn.getresponse().read()
    conn.close()
    assert body.rstrip().endswith(b"data: [DONE]") and b"budget_exceeded" not in body
