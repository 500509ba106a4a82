"""The gateway's upstream connections, end to end: the official SDK through a real
gateway to the mock upstream, which counts the connections it accepts."""

from __future__ import annotations

import time

import openai
import pytest

from tests.policies.upstreams import get_json

MESSAGES = [{"role": "user", "content": "one two three four five"}]


def _client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-m", max_retries=0, timeout=30)


def _gateway(start_gateway, deployment):
    return start_gateway({"auth": {"master_key": "sk-m"}, "models": {"gpt": {"deployments": [deployment]}}})


def test_sequential_streams_reuse_one_upstream_connection(start_mock, start_gateway, openai_deployment):
    # The upstream flushes [DONE], then ends the chunked body a moment later, 1 ms (as
    # a server does that writes each event as it comes): the gateway must read on
    # to the end of the body and pool the connection, not close it at [DONE].
    mock = start_mock()
    gateway = _gateway(start_gateway, openai_deployment(mock, headers={"x-mock-end-delay-ms": "1"}))
    client = _client(gateway)
    for _ in range(100):
        stream = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "one two three four five"
    assert mock.count("/v1/chat/completions") == 100
    assert mock.connections() <= 2, f"{mock.connections()} upstream connections for 100 sequential streams"


def test_done_reaches_the_client_while_the_upstream_holds_its_body_open(start_mock, start_gateway, openai_deployment):
    mock = start_mock()
    gateway = _gateway(start_gateway, openai_deployment(mock, headers={"x-mock-end-delay-ms": "3000"}))
    client = _client(gateway)
    for _ in range(2):  # the second on a new connection: the first was closed, not left to finish
        started = time.monotonic()
        with client.chat.completions.with_streaming_response.create(model="gpt", messages=MESSAGES, stream=True) as response:
            lines = [line for line in response.iter_lines() if line]
        elapsed = time.monotonic() - started
        assert lines[-1] == "data: [DONE]"
        assert elapsed < 1.5, f"[DONE] took {elapsed:.2f}s: the gateway waited for the upstream's body to end"
    assert mock.connections() == 2


def _admin(gateway) -> dict:
    status, body = get_json(gateway.url, "/admin/deployments")
    assert status == 200
    return {d["id"]: d for d in body["deployments"]}


def test_a_full_pool_answers_503_with_retry_after_and_spares_the_deployments_health(
        start_mock, start_gateway, openai_deployment):
    # One connection, held by a slow stream; the next request waits 0.3 s for it, then
    # gets the gateway's own 503. A breaker that opens on one failure stays closed.
    mock = start_mock(chunk_delay_ms=100)
    gateway = start_gateway({
        "auth": {"master_key": "sk-m"},
        "reliability": {"retry": {"attempts": 3, "base_delay": 0.01}, "breaker": {"consecutive_failures": 1}},
        "models": {"gpt": {"deployments": [openai_deployment(mock, id="one", connections={"max": 1, "wait": 0.3})]}},
    })
    client = _client(gateway)
    held = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    next(iter(held))  # the stream has its connection
    for stream in (False, True):
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="gpt", messages=MESSAGES, stream=stream)
        assert 0.25 <= time.monotonic() - started < 3
        error = info.value
        assert error.status_code == 503
        assert error.body["code"] == "connection_pool_full" and "busy" in error.body["message"]
        assert error.response.headers["retry-after"] == "1"
    assert "".join(c.choices[0].delta.content or "" for c in held if c.choices).endswith("five")
    deployment = _admin(gateway)["one"]
    # No outcome at all for the deployment: the held stream is its one success.
    assert (deployment["successes"], deployment["failures"]) == (1, 0)
    assert deployment["breaker"]["state"] == "closed"
    assert mock.count("/v1/chat/completions") == 1  # neither refused request went upstream, none was retried
    assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices[0].message.content


def test_a_wait_for_a_local_connection_is_not_the_upstreams_first_token_time(
        start_mock, start_gateway, openai_deployment):
    # The held stream keeps the only connection ~1 s; the next stream waits for it
    # longer than first_token (0.4 s), then gets its first token at once: served.
    mock = start_mock(chunk_delay_ms=50)
    gateway = start_gateway({
        "auth": {"master_key": "sk-m"},
        "reliability": {"retry": {"attempts": 1}},
        "models": {"gpt": {"deployments": [openai_deployment(
            mock, id="one", connections={"max": 1, "wait": 5}, timeouts={"first_token": 0.4})]}},
    })
    client = _client(gateway)
    held = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    next(iter(held))
    started = time.monotonic()
    waited = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert time.monotonic() - started > 0.5  # it did wait for the connection
    assert "".join(c.choices[0].delta.content or "" for c in waited if c.choices) == "one two three four five"
    assert "".join(c.choices[0].delta.content or "" for c in held if c.choices).endswith("five")
    assert _admin(gateway)["one"]["failures"] == 0
    assert mock.connections() == 1
