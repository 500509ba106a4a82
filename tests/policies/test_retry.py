"""Retries: backoff with full jitter, Retry-After, only retryable errors, the budget.
End-to-end against mock upstreams on loopback through a real gateway."""

import asyncio
import time

import openai
import pytest

from switchyard.core.call import Call
from switchyard.core.config.reliability import RetryConfig
from switchyard.core.errors import InvalidRequest, UpstreamRateLimited, UpstreamUnavailable
from switchyard.policies.retry import RetryBudget, RetryPolicy

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hello"}]


def gateway_for(start_gateway, deployments, reliability=None):
    config = {"auth": {"master_key": "sk-m"}, "models": {"gpt": {"deployments": deployments}}}
    if reliability:
        config["reliability"] = reliability
    gateway = start_gateway(config)
    return gateway, openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=20)


def test_backoff_is_full_jitter_capped_and_honours_retry_after():
    policy = RetryPolicy("d", RetryConfig(attempts=5, base_delay=0.1, max_delay=0.3, max_retry_after=2),
                         RetryBudget(1, 10, 100), rand=lambda: 1.0)
    call = Call("r")
    assert policy.backoff(UpstreamUnavailable("x"), 1, call) == pytest.approx(0.1)
    assert policy.backoff(UpstreamUnavailable("x"), 2, call) == pytest.approx(0.2)
    assert policy.backoff(UpstreamUnavailable("x"), 4, call) == pytest.approx(0.3)  # capped
    assert policy.backoff(UpstreamRateLimited("x", retry_after=1.5), 1, call) == 1.5
    assert policy.backoff(UpstreamRateLimited("x", retry_after=30), 1, call) is None  # too long: fall back
    assert policy.backoff(InvalidRequest("x"), 1, call) is None  # never a 4xx
    assert policy.backoff(UpstreamUnavailable("x"), 5, call) is None  # attempts used up
    call.deadline = time.monotonic() + 0.05
    assert policy.backoff(UpstreamUnavailable("x"), 1, call) is None  # would outlive the deadline
    zero = RetryPolicy("d", RetryConfig(attempts=5), RetryBudget(1, 10, 100), rand=lambda: 0.0)
    assert zero.backoff(UpstreamUnavailable("x"), 3, Call("r")) == 0.0


def test_budget_caps_retries_as_a_fraction_of_traffic():
    now = [0.0]
    budget = RetryBudget(ratio=0.1, window=10, minimum=2, clock=lambda: now[0])
    for _ in range(50):
        budget.record_request()
    spent = sum(budget.try_spend() for _ in range(50))
    assert spent == 2 + 5  # minimum + 10% of 50
    now[0] += 30  # the window rolled over
    assert budget.try_spend() and budget.snapshot()["requests"] == 0


def test_retries_inside_the_policy_with_fake_sleep():
    class Flaky:
        calls = 0

        async def chat(self, request, call):
            Flaky.calls += 1
            if Flaky.calls < 3:
                raise UpstreamUnavailable("boom")
            return "ok"

        async def stream(self, request, call):
            raise NotImplementedError

    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    policy = RetryPolicy("d", RetryConfig(attempts=3), RetryBudget(1, 10, 10), sleep=sleep, rand=lambda: 0.5)
    flaky = Flaky()
    call = Call("r")
    assert asyncio.run(policy.unary(call, lambda c: flaky.chat(c.request, c))) == "ok"
    assert Flaky.calls == 3 and slept == [0.05, 0.1]
    assert [a.status for a in call.attempts] == [502, 502]


def test_a_500_is_retried_on_the_same_deployment(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    _, client = gateway_for(start_gateway, [openai_deployment(mock)], {"retry": {"attempts": 3, "base_delay": 0.01}})
    mock.set_faults(status=500, count=2)
    reply = client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert "hello" in reply.choices[0].message.content
    assert mock.count(CHAT) == 3


def test_429_retry_after_is_honoured(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    _, client = gateway_for(start_gateway, [openai_deployment(mock)], {"retry": {"attempts": 2, "max_retry_after": 2}})
    mock.set_faults(status=429, retry_after=0.4, count=1)
    started = time.monotonic()
    reply = client.chat.completions.create(model="gpt", messages=MESSAGES)
    elapsed = time.monotonic() - started
    assert reply.choices[0].message.content
    assert mock.count(CHAT) == 2
    assert elapsed >= 0.38  # waited as asked, not the 0.1 s default backoff


def test_client_errors_are_never_retried(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    _, client = gateway_for(start_gateway, [openai_deployment(mock)], {"retry": {"attempts": 4}})
    mock.set_faults(status=400)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert mock.count(CHAT) == 1


def test_retry_budget_caps_amplification_during_an_outage(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    reliability = {"retry": {"attempts": 5, "base_delay": 0, "budget_ratio": 0.1, "budget_min": 2},
                   "breaker": {"enabled": False}}
    _, client = gateway_for(start_gateway, [openai_deployment(mock)], reliability)
    mock.set_faults(status=503)
    requests = 30
    for _ in range(requests):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="gpt", messages=MESSAGES)
    upstream_calls = mock.count(CHAT)
    print(f"\n{requests} requests -> {upstream_calls} upstream calls (no budget: {requests * 5})")
    assert upstream_calls <= requests + 2 + 0.1 * requests + 1
    assert upstream_calls > requests  # some retries did happen
