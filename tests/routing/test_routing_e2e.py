"""End to end through the gateway with mock upstreams and the openai SDK."""

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from switchyard.cli.main import main as cli

from .helpers import ask, client

MASTER = "sk-master-routing"


def deployments(openai_deployment, mocks, **extra):
    return [openai_deployment(m, id=name, **extra) for name, m in mocks.items()]


def test_least_busy_favours_the_faster_upstream(start_mock, start_gateway, openai_deployment):
    mocks = {"fast": start_mock(), "slow": start_mock()}
    mocks["slow"].set_faults(latency_ms=300)
    gateway = start_gateway({"models": {"chat": {"strategy": "least_busy",
                                                 "deployments": deployments(openai_deployment, mocks)}}})
    sdk = client(gateway)
    with ThreadPoolExecutor(6) as pool:
        served = Counter(pool.map(lambda i: ask(sdk).headers["x-switchyard-deployment"], range(48)))
    # Round robin would give 24/24; the slow one holds its calls ~300 ms, so it gets few.
    assert served["fast"] >= 2 * served["slow"], served
    assert mocks["fast"].count("/v1/chat/completions") == served["fast"]


def test_latency_strategy_moves_away_from_a_slowed_upstream_and_back(start_mock, start_gateway, openai_deployment):
    mocks = {"a": start_mock(), "b": start_mock()}
    gateway = start_gateway({
        "models": {"chat": {"strategy": "latency", "deployments": deployments(openai_deployment, mocks)}},
        "routing": {"latency": {"explore": 0.1, "decay": 0.5}},
    })
    sdk = client(gateway)

    def share_of(name, n):
        served = [ask(sdk).headers["x-switchyard-deployment"] for _ in range(n)]
        return served.count(name) / n

    mocks["a"].set_faults(latency_ms=150)
    share_of("b", 6)  # warm up: both get measured
    assert share_of("b", 20) >= 0.7
    mocks["a"].reset()
    mocks["b"].set_faults(latency_ms=150)
    # exploration notices `a` is fast again; bounded wait for traffic to shift back
    for _ in range(6):
        if share_of("a", 10) >= 0.7:
            break
    else:
        pytest.fail("traffic did not move back to the recovered upstream")


def test_capability_400_before_any_upstream_call(mock_upstream, start_gateway, openai_deployment):
    gateway = start_gateway({"models": {
        "old": {"deployments": [openai_deployment(mock_upstream, model="gpt-3.5-turbo")]},
        "notools": {"deployments": [openai_deployment(mock_upstream, model="x", capabilities={"tools": False})]},
    }})
    sdk = client(gateway)
    image = [{"type": "text", "text": "what"}, {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="old", messages=[{"role": "user", "content": image}])
    assert info.value.code == "capability_missing" and "vision" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="notools", messages=[{"role": "user", "content": "hi"}],
                                    tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert info.value.code == "capability_missing" and info.value.param == "tools"
    with pytest.raises(openai.BadRequestError) as info:
        ask(sdk, "old", "word " * 17_000)
    assert info.value.code == "context_length_exceeded"
    assert mock_upstream.count("/v1/chat/completions") == 0
    assert ask(sdk, "old").parse().choices[0].message.content  # a plain request still goes through


def test_rule_headers_name_the_route_and_rule(mock_upstream, start_gateway, openai_deployment):
    gateway = start_gateway({
        "models": {"chat": {"deployments": [openai_deployment(mock_upstream)]},
                   "creative": {"deployments": [openai_deployment(mock_upstream, model="gpt-4o")]}},
        "routing": {"rules": [{"name": "poetry", "when": {"keywords": ["poem"]}, "route": "creative"}]},
    })
    sdk = client(gateway)
    r = ask(sdk, "chat", "write a poem", stream=True)
    assert r.headers["x-switchyard-route"] == "creative" and r.headers["x-switchyard-rule"] == "poetry"
    r = ask(sdk, "chat", "plain")
    assert r.headers["x-switchyard-route"] == "chat" and "x-switchyard-rule" not in r.headers


CONFIG = {
    "auth": {"master_key": MASTER, "keys": [{"key": "sk-user", "name": "user"}]},
    "models": {"chat": {"strategy": "cost", "deployments": [
        {"provider": "fake", "model": "echo", "id": "dear", "price": {"input": 5, "output": 15}},
        {"provider": "fake", "model": "echo", "id": "cheap", "price": {"input": 0.1, "output": 0.4}},
        {"provider": "fake", "model": "gpt-3.5-turbo", "id": "textonly", "price": {"input": 0.01, "output": 0.01}},
    ]}},
    "routing": {"rules": [{"name": "acme", "when": {"headers": {"x-tenant": "acme"}}, "route": "chat"}]},
}
IMAGE_BODY = {"model": "chat", "messages": [{"role": "user", "content": [
    {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}


def test_admin_route_dry_run(start_gateway):
    import urllib.request

    gateway = start_gateway(CONFIG)

    def post(key, body):
        req = urllib.request.Request(gateway.url + "/admin/route", data=json.dumps(body).encode(),
                                     headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, report = post(MASTER, {"request": IMAGE_BODY, "headers": {"x-tenant": "acme"}})
    assert status == 200
    assert report["rule"] == "acme" and report["strategy"] == "cost"
    assert report["chosen"] == "cheap" and report["order"] == ["cheap", "dear"]
    textonly = next(c for c in report["candidates"] if c["id"] == "textonly")
    assert textonly["capable"] is False and textonly["missing"] == "vision"
    assert "cheapest" in report["why"]
    assert post("sk-user", IMAGE_BODY)[0] == 403


def test_cli_route_dry_run(tmp_path, capsys):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert cli(["route", "--config", str(path), "--request", body, "-H", "x-tenant: acme"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rule"] == "acme" and report["chosen"] == "textonly"


def test_cost_routing_reads_the_price_table_the_answers_are_billed_with(mock_upstream, start_gateway):
    """No ``price:`` in the config: the cost strategy and a cost rule use the genai-prices table, as
    the pipeline does when it prices the answer (gpt-4o-mini is ~16x cheaper than gpt-4o)."""
    deployment = {"provider": "openai", "base_url": mock_upstream.base_url, "api_key": "sk-upstream"}
    gateway = start_gateway({
        "auth": {"master_key": MASTER},
        "models": {"chat": {"strategy": "cost", "deployments": [
            {**deployment, "model": "gpt-4o", "id": "dear"}, {**deployment, "model": "gpt-4o-mini", "id": "cheap"}]},
            "premium": {"deployments": [{**deployment, "model": "gpt-4o"}]}},
        "routing": {"rules": [{"name": "pricey", "when": {"models": ["premium"], "cost_above": 0.005},
                               "route": "chat"}]},
    })
    sdk = client(gateway, MASTER)
    for _ in range(4):  # round robin would alternate; the cost strategy always picks the cheaper one
        answer = ask(sdk, max_tokens=100)
        assert answer.headers["x-switchyard-deployment"] == "cheap"
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000}
    request = json.dumps(body).encode()
    import urllib.request

    req = urllib.request.Request(gateway.url + "/admin/route", data=request,
                                 headers={"authorization": f"Bearer {MASTER}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        report = json.loads(resp.read())
    scores = {c["id"]: c["score"] for c in report["candidates"]}
    # 1000 output tokens at $10 and $0.60 per million, plus a prompt of a few tokens
    assert scores["dear"] == pytest.approx(0.01, rel=0.01) and scores["cheap"] == pytest.approx(0.0006, rel=0.01)
    assert report["order"] == ["cheap", "dear"]
    # gpt-4o, 1000 output tokens: $0.01 > $0.005, so the rule sends premium to chat
    routed = ask(sdk, model="premium", max_tokens=1000)
    assert routed.headers["x-switchyard-rule"] == "pricey" and routed.headers["x-switchyard-route"] == "chat"
    assert ask(sdk, model="premium", max_tokens=100).headers["x-switchyard-route"] == "premium"
