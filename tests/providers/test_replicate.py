"""Replicate: the prediction's input from a chat request (pure), and end to end through a
gateway on loopback against the mock's predictions API with the openai SDK."""

from __future__ import annotations

import json

import openai
import pytest

from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamUnavailable
from switchyard.core.messages import validate_chat
from switchyard.providers import replicate_format as wire
from switchyard.providers.replicate import ReplicateProvider
from tests.routing.helpers import client

KEY = "r8_mock_key"


def chat(messages, **fields):
    return validate_chat({"model": "alias", "messages": messages, **fields})


def test_the_prediction_is_created_where_the_model_lives():
    assert wire.prediction_path("meta/llama", None) == ("/models/meta/llama/predictions", {})
    assert wire.prediction_path("meta/llama:5c7d", None) == ("/predictions", {"version": "5c7d"})
    assert wire.prediction_path("ignored", "acme/my-llama") == ("/deployments/acme/my-llama/predictions", {})
    with pytest.raises(InvalidRequest, match="owner/name"):
        wire.prediction_path("llama", None)
    assert ReplicateProvider.check_config(DeploymentConfig(provider="replicate", model="llama", api_key=KEY)) == [
        ("model", "must be a Replicate model as owner/name or owner/name:version")]
    assert ReplicateProvider.check_config(DeploymentConfig(provider="replicate", model="*", api_key=KEY)) == []


def test_a_conversation_becomes_a_prompt():
    one = wire.build_input(chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                                max_tokens=9, temperature=0.2, stop=["\n\n", "END"], seed=3), {})
    assert one == {"prompt": "Hi", "system_prompt": "Be brief.", "max_tokens": 9, "temperature": 0.2, "seed": 3,
                   "stop_sequences": "\n\n,END"}
    many = wire.build_input(chat([{"role": "user", "content": "One?"}, {"role": "assistant", "content": "1."},
                                  {"role": "user", "content": [{"type": "text", "text": "Two?"}, {
                                      "type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
                                 max_completion_tokens=5),
                            {"max_tokens_input": "max_new_tokens", "input": {"prompt_template": "{prompt}"}})
    assert many == {"prompt": "User: One?\n\nAssistant: 1.\n\nUser: Two?\n\nAssistant:", "image": "https://x/y.png",
                    "max_new_tokens": 5, "prompt_template": "{prompt}"}


def test_a_prediction_as_an_answer():
    done = {"id": "p1", "status": "succeeded", "output": ["Hel", "lo"],
            "metrics": {"input_token_count": 4, "output_token_count": 2}}
    answer = wire.to_response(done, "meta/llama", None)
    assert answer.body["choices"][0]["message"]["content"] == "Hello"
    assert answer.body["choices"][0]["finish_reason"] == "stop"
    assert answer.usage.prompt_tokens == 4 and answer.usage.completion_tokens == 2
    assert wire.to_response(done, "meta/llama", 2).body["choices"][0]["finish_reason"] == "length"
    assert wire.to_response({**done, "metrics": None}, "m", None).usage is None
    error = wire.failed({"id": "p2", "status": "failed", "error": "CUDA out of memory"})
    assert isinstance(error, UpstreamUnavailable) and "CUDA out of memory" in error.message
    with pytest.raises(UpstreamProtocolError):
        wire.parse_prediction(b'{"id": "p3"}')


def test_stream_events_become_chunks():
    events = wire.PredictionEvents("m", "p1")
    chunks = events.feed(b"event: output\nid: 0\ndata: Hel\n\nevent: output\ndata: lo\ndata: there\n\n")
    assert [c.data["choices"][0]["delta"].get("content") for c in chunks] == ["Hel", "lo\nthere"]
    assert chunks[0].data["choices"][0]["delta"]["role"] == "assistant"
    last = events.feed(b"event: done\ndata: {}\n\n")
    assert events.finished and last[-1].data["choices"][0]["finish_reason"] == "stop"
    with pytest.raises(UpstreamUnavailable, match="canceled"):
        wire.PredictionEvents("m", "p2").feed(b'event: done\ndata: {"reason": "canceled"}\n\n')
    with pytest.raises(UpstreamUnavailable, match="boom"):
        wire.PredictionEvents("m", "p3").feed(b'event: error\ndata: {"detail": "boom"}\n\n')
    with pytest.raises(UpstreamProtocolError):
        wire.PredictionEvents("m", "p4").close()


@pytest.fixture
def gateway(start_mock, start_gateway):
    mock = start_mock(api_key=KEY)

    def deployment(model, **extra):
        return {"deployments": [{"provider": "replicate", "model": model, "base_url": mock.url + "/v1",
                                 "api_key": KEY, **extra}]}

    running = start_gateway({"models": {
        "llama": deployment("meta/meta-llama-3-8b-instruct"),
        "slow-llama": deployment("acme/async-llama"),
        "pinned": deployment("meta/llama-3:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"),
        "deployed": deployment("unused", options={"deployment": "acme/my-llama"}),
    }})
    running.mock = mock
    return running


def test_through_the_gateway_unary_polled_pinned_and_deployed(gateway):
    sdk = client(gateway)
    answer = sdk.chat.completions.create(model="llama", messages=[{"role": "user", "content": "hello replicate"}])
    assert answer.choices[0].message.content == "hello replicate" and answer.usage.completion_tokens > 0
    created = gateway.mock.mock.requests[-1]
    assert created.path == "/v1/models/meta/meta-llama-3-8b-instruct/predictions"
    assert created.headers["prefer"].startswith("wait=") and json.loads(created.body) == {
        "input": {"prompt": "hello replicate"}}
    # a prediction still running when the wait ends is polled at its urls.get
    polled = sdk.chat.completions.create(model="slow-llama", messages=[{"role": "user", "content": "take your time"}])
    assert polled.choices[0].message.content == "take your time"
    assert [r.method for r in list(gateway.mock.mock.requests)[-2:]] == ["POST", "GET"]
    sdk.chat.completions.create(model="pinned", messages=[{"role": "user", "content": "v"}])
    assert json.loads(gateway.mock.mock.requests[-1].body)["version"].startswith("5c7d")
    sdk.chat.completions.create(model="deployed", messages=[{"role": "user", "content": "d"}])
    assert gateway.mock.mock.requests[-1].path == "/v1/deployments/acme/my-llama/predictions"


def test_through_the_gateway_streamed_from_the_stream_url(gateway):
    sdk = client(gateway)
    pieces = [c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
        model="llama", stream=True, messages=[{"role": "user", "content": "one two three four"}]) if c.choices]
    assert "".join(pieces) == "one two three four" and len([p for p in pieces if p]) > 1
    assert [r.method for r in list(gateway.mock.mock.requests)[-2:]] == ["POST", "GET"]
    assert json.loads(gateway.mock.mock.requests[-2].body)["stream"] is True


def test_tools_are_refused_before_any_call(gateway):
    sdk = client(gateway)
    before = len(gateway.mock.mock.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="llama", messages=[{"role": "user", "content": "call f"}], tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    assert caught.value.body["code"] == "capability_missing"
    assert len(gateway.mock.mock.requests) == before
