"""The mock's Anthropic wire format, read by the official anthropic SDK and raw HTTP."""

from __future__ import annotations

import http.client

import anthropic
import orjson
import pytest

from switchyard.mock import MockUpstreamThread
from tests.server.raw_http import request as raw_request

WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                                                   "days": {"type": "integer"}}}}


@pytest.fixture(scope="module")
def mock():
    with MockUpstreamThread(api_key="sk-ant", stream_chunks=3) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def client(mock):
    return anthropic.Anthropic(base_url=mock.url, api_key="sk-ant", max_retries=0)


def post(mock, body: dict, **headers: str):
    sent = {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01", "content-type": "application/json", **headers}
    return raw_request(mock.url, "POST", "/v1/messages", orjson.dumps(body), sent)


def test_message(client):
    message = client.messages.create(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "echo me"}])
    assert message.content[0].text == "echo me" and message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0 and message.id.startswith("msg_")


def test_max_tokens_and_stop_sequences(client):
    cut = client.messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "a long sentence"}])
    assert cut.stop_reason == "max_tokens" and len(cut.content[0].text) <= 4
    stopped = client.messages.create(model="m", max_tokens=100, stop_sequences=["STOP"],
                                     messages=[{"role": "user", "content": "before STOP after"}])
    assert stopped.stop_reason == "stop_sequence" and stopped.content[0].text == "before "


def test_stream_sequence(mock, client):
    with client.messages.stream(model="m", max_tokens=100, messages=[{"role": "user", "content": "abc def ghi"}]) as s:
        assert "".join(s.text_stream) == "abc def ghi"
    response = post(mock, {"model": "m", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    names = [f.split("\n", 1)[0] for f in response.body.decode().split("\n\n") if f]
    assert names[:3] == ["event: message_start", "event: ping", "event: content_block_start"]
    assert names[-3:] == ["event: content_block_stop", "event: message_delta", "event: message_stop"]


def test_tool_use(client):
    message = client.messages.create(model="m", max_tokens=100, tools=[WEATHER],
                                     messages=[{"role": "user", "content": "call get_weather"}])
    block = message.content[0]
    assert message.stop_reason == "tool_use" and block.type == "tool_use"
    assert block.input == {"city": "mock", "days": 1}
    forced = client.messages.create(model="m", max_tokens=100, tools=[WEATHER],
                                    tool_choice={"type": "tool", "name": "get_weather"},
                                    messages=[{"role": "user", "content": "anything"}])
    assert forced.content[0].name == "get_weather"
    with client.messages.stream(model="m", max_tokens=100, tools=[WEATHER],
                                messages=[{"role": "user", "content": "call get_weather"}]) as s:
        partials = [e for e in s if e.type == "input_json"]
        final = s.get_final_message()
    assert len(partials) > 1 and final.content[0].input == {"city": "mock", "days": 1}


def test_auth_version_and_validation(mock):
    wrong = post(mock, {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, **{"x-api-key": "no"})
    assert wrong.status == 401 and wrong.json()["error"]["type"] == "authentication_error"
    unversioned = raw_request(mock.url, "POST", "/v1/messages", b'{"model":"m","max_tokens":5,"messages":[]}',
                              {"x-api-key": "sk-ant", "content-type": "application/json"})
    assert unversioned.status == 400 and "anthropic-version" in unversioned.json()["error"]["message"]
    no_max = post(mock, {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert no_max.status == 400 and no_max.json() == {
        "type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}}
    system_role = post(mock, {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]})
    assert system_role.status == 400


def test_rate_limit_headers(mock):
    response = post(mock, {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert response.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert "anthropic-ratelimit-tokens-remaining" in response.headers


def test_faults(client, mock):
    user = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="mock-529", max_tokens=5, messages=user)
    assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="m", max_tokens=5, messages=user, extra_headers={"x-mock-status": "429"})
    assert info.value.response.headers["retry-after"] == "1"
    with pytest.raises(http.client.IncompleteRead) as dropped:
        post(mock, {"model": "mock-drop", "max_tokens": 100, "stream": True,
                    "messages": [{"role": "user", "content": "one two three four"}]})
    assert b"message_start" in dropped.value.partial and b"message_stop" not in dropped.value.partial
    garbage = post(mock, {"model": "m", "max_tokens": 5, "stream": True, "messages": user}, **{"x-mock-garbage": "1"})
    assert b"{not json" in garbage.body


def test_count_tokens(client):
    small = client.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hi"}])
    large = client.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hi " * 100}])
    assert 0 < small.input_tokens < large.input_tokens
