"""Breaker state shared by two gateway processes through the real Redis."""

import time

import openai

from tests.policies.upstreams import get_json

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hello"}]


def test_a_breaker_opened_by_one_replica_opens_on_the_other(start_mock, start_gateway_process, openai_deployment,
                                                            redis_url, redis_prefix):
    flaky, steady = start_mock(), start_mock()
    config = {
        "auth": {"master_key": "sk-m"},
        "redis": {"url": redis_url, "prefix": redis_prefix},
        "reliability": {"retry": {"attempts": 1},
                        "breaker": {"consecutive_failures": 2, "open_for": 60, "sync_interval": 0.1}},
        "models": {"gpt": {"deployments": [openai_deployment(flaky, id="flaky"), openai_deployment(steady, id="steady")]}},
    }
    first, second = start_gateway_process(config), start_gateway_process(config)
    flaky.set_faults(status=500)
    client = openai.OpenAI(base_url=first.url + "/v1", api_key="sk-m", max_retries=0, timeout=10)
    for _ in range(4):  # round robin: flaky fails twice (the steady one answers each time)
        client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert get_json(first.url, "/health/ready")[1]["deployments"]["flaky"]["breaker"] == "open"

    deadline = time.monotonic() + 10
    state = None
    while time.monotonic() < deadline:  # another process: poll
        state = get_json(second.url, "/health/ready")[1]["deployments"]["flaky"]["breaker"]
        if state == "open":
            break
        time.sleep(0.05)
    assert state == "open"

    before = flaky.count(CHAT)
    other = openai.OpenAI(base_url=second.url + "/v1", api_key="sk-m", max_retries=0, timeout=10)
    for _ in range(4):
        response = other.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
        assert response.headers["x-switchyard-deployment"] == "steady"
    assert flaky.count(CHAT) == before  # the second replica never tried it
    _, detail = get_json(second.url, "/admin/deployments")
    assert detail["breaker_sharing"] == "redis"
