"""An upstream refusing the gateway's own key is an upstream failure (502, may fall
back), never the caller's 401: SDK users must not be told their gateway key is wrong."""

from __future__ import annotations

import openai
import pytest

from switchyard.core.errors import UpstreamAuthError, from_upstream_status, to_openai_body

UPSTREAM_KEY = "sk-upstream-GOOD-7777"
WRONG_KEY = "sk-upstream-WRONG-1234"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_401_and_403_map_to_upstream_auth_error(status):
    err = from_upstream_status(status, "Incorrect API key provided", code="invalid_api_key")
    assert isinstance(err, UpstreamAuthError)
    assert (err.status, err.type, err.code) == (502, "api_error", "upstream_authentication_error")
    assert err.retryable is False and err.fallback is True
    err.for_deployment("gpt#0", ["unused-secret"])
    body = to_openai_body(err)["error"]
    assert body["message"].startswith(f"The upstream rejected the gateway's credentials for deployment gpt#0 (HTTP {status})")
    assert "Incorrect API key provided" in body["message"]


def test_for_deployment_blanks_echoed_secrets():
    err = from_upstream_status(401, f"bad key {WRONG_KEY} in header Bearer {WRONG_KEY}")
    err.for_deployment("d1", [WRONG_KEY, ""])
    assert WRONG_KEY not in err.message and WRONG_KEY not in str(err) and "[redacted]" in err.message


def _config(*deployments) -> dict:
    return {"auth": {"master_key": "sk-m"}, "models": {"gpt": {"deployments": list(deployments)}}}


def _deployment(mock, key: str, id: str) -> dict:
    return {"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url, "api_key": key, "id": id}


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_sees_a_502_naming_the_deployment_not_an_authentication_error(start_mock, start_gateway, stream):
    mock = start_mock(api_key=UPSTREAM_KEY)
    gateway = start_gateway(_config(_deployment(mock, WRONG_KEY, "bad-key")))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)
    with pytest.raises(openai.APIStatusError) as info:
        if stream:
            list(client.chat.completions.create(model="gpt", messages=HI, stream=True))
        else:
            client.chat.completions.create(model="gpt", messages=HI)
    assert not isinstance(info.value, (openai.AuthenticationError, openai.PermissionDeniedError))
    assert info.value.status_code == 502
    error = info.value.response.json()["error"]
    assert error["type"] == "api_error" and error["code"] == "upstream_authentication_error"
    assert "rejected the gateway's credentials for deployment bad-key" in error["message"]
    assert WRONG_KEY not in info.value.response.text and UPSTREAM_KEY not in info.value.response.text
    # the gateway's own auth failure is still the caller's 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0).chat.completions.create(
            model="gpt", messages=HI)


def test_a_deployment_with_a_refused_key_falls_back_to_one_with_a_good_key(start_mock, start_gateway):
    refusing, good = start_mock(api_key=UPSTREAM_KEY), start_mock(api_key=UPSTREAM_KEY)
    gateway = start_gateway(_config(_deployment(refusing, WRONG_KEY, "bad-key"), _deployment(good, UPSTREAM_KEY, "good-key")))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)
    for _ in range(4):  # round robin starts on either; each request must end on the good key
        response = client.chat.completions.with_raw_response.create(model="gpt", messages=HI)
        assert response.headers["x-switchyard-deployment"] == "good-key"
        assert response.parse().choices[0].message.content == "hi"
    assert refusing.count("/v1/chat/completions") >= 1  # it was tried, refused, and not retried in place


def test_a_deployment_whose_key_is_refused_leaves_rotation(start_mock, start_gateway):
    """Refused credentials are the deployment's fault: its breaker opens, so later
    requests go straight to the good deployment without paying a failed round trip."""
    bad_mock, good_mock = start_mock(api_key=UPSTREAM_KEY), start_mock()
    config = _config(_deployment(bad_mock, WRONG_KEY, "bad-key"), _deployment(good_mock, "sk-any", "good"))
    config["reliability"] = {"breaker": {"consecutive_failures": 2, "open_for": 60}}
    gateway = start_gateway(config)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)
    for _ in range(10):
        assert client.chat.completions.create(model="gpt", messages=HI).choices[0].message.content
    assert bad_mock.count("/v1/chat/completions") == 2
    assert good_mock.count("/v1/chat/completions") == 10


def test_a_failed_chain_waits_for_the_soonest_deployment():
    from switchyard.core.errors import FallbackExhausted, UpstreamRateLimited

    chain = FallbackExhausted.from_attempts(
        [("a", UpstreamRateLimited("busy", retry_after=5.0)), ("b", UpstreamRateLimited("busy", retry_after=2.0)),
         ("c", from_upstream_status(500, "down"))]
    )
    assert chain.retry_after == 2.0
    assert chain.response_headers()["retry-after"] == "2"


def test_an_exhausted_chain_counts_attempts_and_deployments_apart():
    from switchyard.core.errors import FallbackExhausted, UpstreamUnavailable

    one_retried = FallbackExhausted.from_attempts([("d", UpstreamUnavailable("down")), ("d", UpstreamUnavailable("down"))])
    assert one_retried.message.startswith("Every candidate failed (2 attempts on 1 deployment): d: 502 down")
    two = FallbackExhausted.from_attempts([("a", UpstreamUnavailable("x")), ("b", UpstreamUnavailable("y"))])
    assert "(2 attempts on 2 deployments)" in two.message
