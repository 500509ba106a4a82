"""Fallback chains: within a group, then to other aliases by error class; one
error listing every attempt when the whole chain fails."""

import asyncio
import http.client
from urllib.parse import urlsplit

import openai
import orjson
import pytest

from switchyard.core.call import Attempt, Call
from switchyard.core.config.reliability import Fallbacks
from switchyard.core.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    FallbackExhausted,
    InvalidRequest,
    UpstreamRateLimited,
)
from switchyard.pipeline.fallback import FallbackChain, fallback_aliases
from tests.policies.upstreams import Killable

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hello fallback"}]
NO_RETRY = {"retry": {"attempts": 1}}


def client_for(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)


class Group:
    def __init__(self, alias, **fallbacks):
        self.alias = alias
        self.config = type("C", (), {"fallbacks": Fallbacks(**fallbacks)})()


def test_fallback_aliases_by_error_class():
    group = Group("a", default=["b"], context_window=["big"], content_policy=["safe"])
    assert fallback_aliases(group, UpstreamRateLimited("x")) == ["b"]
    assert fallback_aliases(group, ContextWindowExceeded("x")) == ["big"]
    assert fallback_aliases(group, ContentPolicyViolation("x")) == ["safe"]
    assert fallback_aliases(group, InvalidRequest("x")) == []  # not fallback-able
    assert Fallbacks.model_validate(["b", "c"]).default == ["b", "c"]  # list shorthand


def test_content_policy_refusal_goes_to_the_configured_alternative():
    groups = {"strict": Group("strict", content_policy=["lenient"]), "lenient": Group("lenient")}
    catalog = type("Catalog", (), {"resolve": lambda self, alias: groups[alias]})()
    chain = FallbackChain(catalog)
    served = []

    async def serve(group, call):
        served.append(group.alias)
        if group.alias == "strict":
            call.attempts.append(Attempt("strict#0", 400, "refused"))
            raise ContentPolicyViolation("refused")
        return "answer"

    call = Call("r")
    assert asyncio.run(chain.run(serve, groups["strict"], call)) == "answer"
    assert served == ["strict", "lenient"] and call.route["fallback"] == "lenient"


def test_within_a_group_the_next_deployment_serves(start_mock, start_gateway, openai_deployment):
    bad, good = start_mock(), start_mock()
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, "reliability": NO_RETRY, "models": {
        "gpt": {"deployments": [openai_deployment(bad, id="bad"), openai_deployment(good, id="good")]}}})
    bad.set_faults(status=503)
    for _ in range(3):
        response = client_for(gateway).chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
        assert response.headers["x-switchyard-deployment"] == "good"
        assert "x-switchyard-fallback" not in response.headers


def test_rate_limited_alias_falls_back_to_another_alias(start_mock, start_gateway, openai_deployment):
    primary, backup = start_mock(), start_mock()
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, "reliability": NO_RETRY, "models": {
        "main": {"deployments": [openai_deployment(primary, id="main-1")], "fallbacks": ["backup"]},
        "backup": {"deployments": [openai_deployment(backup, id="backup-1")]}}})
    primary.set_faults(status=429, retry_after=30)
    response = client_for(gateway).chat.completions.with_raw_response.create(model="main", messages=MESSAGES)
    assert "hello fallback" in response.parse().choices[0].message.content
    assert response.headers["x-switchyard-deployment"] == "backup-1"
    assert response.headers["x-switchyard-fallback"] == "backup"


def test_stream_falls_back_to_another_alias_before_its_first_chunk(start_mock, start_gateway, openai_deployment):
    down = Killable()
    down_url = down.base_url
    down.stop()  # connection refused
    backup = start_mock()
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, "reliability": NO_RETRY, "models": {
        "main": {"deployments": [{"provider": "openai", "model": "m", "base_url": down_url, "api_key": "k", "id": "down"}],
                 "fallbacks": {"default": ["backup"]}},
        "backup": {"deployments": [openai_deployment(backup, id="backup-1")]}}})
    response = client_for(gateway).chat.completions.with_raw_response.create(model="main", messages=MESSAGES, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert "hello fallback" in text
    assert response.headers["x-switchyard-fallback"] == "backup"


def test_context_window_goes_to_the_larger_alias(start_mock, start_gateway, openai_deployment):
    small, big = start_mock(), start_mock()
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, "reliability": NO_RETRY, "models": {
        "small": {"deployments": [openai_deployment(small, id="small-1", capabilities={"context_window": 64})],
                  "fallbacks": {"default": ["elsewhere"], "context_window": ["big"]}},
        "elsewhere": {"deployments": [openai_deployment(small, id="elsewhere-1")]},  # never asked: not a window error
        "big": {"deployments": [openai_deployment(big, id="big-1")]}}})
    long_prompt = [{"role": "user", "content": "word " * 500}]
    response = client_for(gateway).chat.completions.with_raw_response.create(model="small", messages=long_prompt)
    assert response.headers["x-switchyard-fallback"] == "big"
    assert small.count(CHAT) == 0 and big.count(CHAT) == 1


def test_a_failed_chain_is_one_error_listing_every_attempt(start_mock, start_gateway, openai_deployment):
    a, b, c = start_mock(), start_mock(), start_mock()
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, "reliability": {"retry": {"attempts": 2, "base_delay": 0}},
                             "models": {
        "main": {"deployments": [openai_deployment(a, id="a"), openai_deployment(b, id="b")], "fallbacks": ["other"]},
        "other": {"deployments": [openai_deployment(c, id="c")]}}})
    for mock in (a, b, c):
        mock.set_faults(status=500)
    parts = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    conn.request("POST", CHAT, body=orjson.dumps({"model": "main", "messages": MESSAGES}),
                 headers={"authorization": "Bearer sk-m", "content-type": "application/json"})
    response = conn.getresponse()
    body = orjson.loads(response.read())
    conn.close()
    assert response.status == 502
    error = body["error"]
    assert error["code"] == "all_deployments_failed"
    attempts = error["attempts"]
    assert [x["deployment"] for x in attempts].count("c") == 2  # retried once, then gave up
    assert {x["deployment"] for x in attempts} == {"a", "b", "c"}
    assert len(attempts) == 6 and all(x["status"] == 502 and x["reason"] for x in attempts)
    assert all(m.count(CHAT) == 2 for m in (a, b, c))


def test_a_client_error_is_not_hidden_behind_fallbacks(start_mock, start_gateway, openai_deployment):
    a, b = start_mock(), start_mock()
    gateway = start_gateway({"auth": {"master_key": "sk-m"}, "reliability": NO_RETRY, "models": {
        "main": {"deployments": [openai_deployment(a)], "fallbacks": ["other"]},
        "other": {"deployments": [openai_deployment(b)]}}})
    a.set_faults(status=400)
    with pytest.raises(openai.BadRequestError):
        client_for(gateway).chat.completions.create(model="main", messages=MESSAGES)
    assert b.count(CHAT) == 0
    assert FallbackExhausted.status == 502


def test_a_fallback_the_key_may_not_use_is_skipped_and_listed(start_mock, start_gateway, openai_deployment):
    primary, premium, cheap = start_mock(), start_mock(), start_mock()
    gateway = start_gateway({
        "auth": {"master_key": "sk-m", "keys": [{"key": "sk-only-4o", "name": "only-4o", "models": ["gpt-4o"]},
                                                {"key": "sk-4o-cheap", "name": "4o-cheap", "models": ["gpt-4o", "cheap"]}]},
        "reliability": NO_RETRY,
        "models": {
            "gpt-4o": {"deployments": [openai_deployment(primary, id="primary")], "fallbacks": ["premium", "cheap"]},
            "premium": {"deployments": [openai_deployment(premium, id="premium-1")]},
            "cheap": {"deployments": [openai_deployment(cheap, id="cheap-1")]}}})
    primary.set_faults(status=429, retry_after=30)

    def post(key):
        parts = urlsplit(gateway.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        conn.request("POST", CHAT, body=orjson.dumps({"model": "gpt-4o", "messages": MESSAGES}),
                     headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        response = conn.getresponse()
        result = response.status, dict(response.getheaders()), orjson.loads(response.read())
        conn.close()
        return result

    # allowed neither fallback: the primary's 429 stands, both skips are listed, no fallback upstream is called
    status, _, body = post("sk-only-4o")
    assert status == 429 and body["error"]["type"] == "rate_limit_error"
    attempts = body["error"]["attempts"]
    assert [a["deployment"] for a in attempts] == ["primary", "premium (fallback)", "cheap (fallback)"]
    assert [a["status"] for a in attempts] == [429, 403, 403]
    assert all("may not use the fallback model" in a["reason"] for a in attempts[1:])
    assert premium.count(CHAT) == 0 and cheap.count(CHAT) == 0

    # allowed one: the forbidden one is passed over, the allowed one serves
    status, headers, body = post("sk-4o-cheap")
    assert status == 200 and headers["x-switchyard-fallback"] == "cheap"
    assert premium.count(CHAT) == 0 and cheap.count(CHAT) == 1

    # the master key may use anything: the first fallback serves
    status, headers, _ = post("sk-m")
    assert status == 200 and headers["x-switchyard-fallback"] == "premium" and premium.count(CHAT) == 1
