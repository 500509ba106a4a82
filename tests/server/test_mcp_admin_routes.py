"""``GET /admin/mcp``: servers, tools, permissions and limits for owners, admins and viewers —
never a server's credentials; a key holder is refused, and without ``mcp:`` it is a 503."""

from __future__ import annotations

import orjson

from tests.server.raw_http import request

MASTER = "sk-master-mcp-admin-0123456789"
MODELS = {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}


def _get(url: str, key: str | None):
    return request(url, "GET", "/admin/mcp", headers={"authorization": f"Bearer {key}"} if key else {})


def test_servers_tools_permissions_and_limits(start_gateway):
    gateway = start_gateway({
        "auth": {"master_key": MASTER}, "models": MODELS,
        "mcp": {"builtins": {"calc": {}}, "access": {"default": ["calc__*"], "teams": {"ml": ["*"]}},
                "rate_limits": [{"tool": "calc__*", "rpm": 60}]},
    })
    answer = _get(gateway.url, MASTER)
    assert answer.status == 200
    body = answer.json()
    calc = next(s for s in body["servers"] if s["name"] == "calc")
    assert calc["connected"] is True and "calc__evaluate" in calc["tools"]
    assert body["access"]["default"] == ["calc__*"] and body["access"]["teams"] == {"ml": ["*"]}
    assert body["rate_limits"] == [{"tool": "calc__*", "rpm": 60, "per": "key"}]
    assert _get(gateway.url, None).status == 401
    owner = {"authorization": f"Bearer {MASTER}", "content-type": "application/json"}
    assert request(gateway.url, "POST", "/admin/tenants", orjson.dumps({"name": "t"}), owner).status == 201
    key = request(gateway.url, "POST", "/admin/keys", orjson.dumps({"name": "k", "tenant": "t"}), owner).json()["key"]
    assert _get(gateway.url, key).status == 403


def test_without_mcp_it_is_a_503_naming_it(start_gateway):
    gateway = start_gateway({"auth": {"master_key": MASTER}, "models": MODELS})
    answer = _get(gateway.url, MASTER)
    assert answer.status == 503 and answer.json()["error"]["code"] == "mcp_off"
