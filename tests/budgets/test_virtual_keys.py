"""Budgets of virtual keys, their teams and tenants (the directory), enforced by the budget stage:
keys issued through the admin API carry their own budget and their team's and tenant's on the caller."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.server.raw_http import request

MASTER = "sk-master-vk"
PROMPT = [{"role": "user", "content": "one two three four five six seven eight"}]


def _admin(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    import orjson

    response = request(url, "POST", path, orjson.dumps(body),
                       {"authorization": f"Bearer {MASTER}", "content-type": "application/json"})
    assert response.status == 201, response.body
    return response.json()  # type: ignore[no-any-return]


def _spend_until_refused(url: str, key: str) -> tuple[float, openai.RateLimitError]:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key)
    spent = 0.0
    for _ in range(200):
        try:
            raw = client.chat.completions.with_raw_response.create(model="echo", messages=PROMPT)
        except openai.RateLimitError as exc:
            client.close()
            return spent, exc
        spent += float(raw.headers["x-switchyard-cost-usd"])
    raise AssertionError("never refused")


def test_a_virtual_key_its_team_and_its_tenant_each_hold_their_budget(start_gateway):
    gateway = start_gateway({
        "auth": {"master_key": MASTER},
        "models": {"echo": {"deployments": [{"provider": "fake", "model": "echo", "price": {"input": 1, "output": 3}}]}},
        "spend": {"records": True},
    })
    url = gateway.url
    _admin(url, "/admin/tenants", {"name": "acme", "budget": {"amount": 100, "period": "monthly"}})
    _admin(url, "/admin/teams", {"name": "ml", "tenant": "acme", "budget": {"amount": 0.0006, "period": "daily"}})
    first = _admin(url, "/admin/keys", {"team": "ml", "name": "first", "budget": {"amount": 0.0003, "period": "daily"}})
    second = _admin(url, "/admin/keys", {"team": "ml", "name": "second"})

    spent_first, refused = _spend_until_refused(url, first["key"])
    assert 0.0003 < spent_first and refused.response.headers["x-switchyard-budget"] == "key=first daily"
    assert refused.body["code"] == "budget_exceeded"
    # The second key has no budget of its own: the team's is what stops it, counting the first key's spend.
    spent_second, refused = _spend_until_refused(url, second["key"])
    assert refused.response.headers["x-switchyard-budget"] == "team=ml daily"
    assert 0.0006 < spent_first + spent_second
    assert spent_second > 0
    report = request(url, "GET", "/admin/spend?group_by=team", headers={"authorization": f"Bearer {MASTER}"}).json()
    row = report["data"][0]
    assert row["team"] == "ml" and row["cost_usd"] == pytest.approx(spent_first + spent_second)
    by_key = request(url, "GET", "/admin/spend?group_by=key", headers={"authorization": f"Bearer {MASTER}"}).json()
    assert {r["key"]: r["errors"] for r in by_key["data"]} == {"first": 1, "second": 1}
    # A key presented on the admin route sees its own spend, and nobody else's.
    own = request(url, "GET", "/admin/spend?group_by=key", headers={"authorization": f"Bearer {first['key']}"}).json()
    assert [r["key"] for r in own["data"]] == ["first"] and own["total"]["cost_usd"] == pytest.approx(spent_first)
