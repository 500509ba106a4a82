"""End to end: the official anthropic SDK -> gateway -> (Anthropic mock natively | OpenAI mock | fake),
and the official openai SDK -> gateway -> Anthropic mock."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from switchyard.mock import MockUpstreamThread
from switchyard.mock.anthropic import ANTHROPIC
from switchyard.mock.wire import Route, StreamReply
from switchyard.server.runner import GatewayThread
from tests.server.raw_http import request as raw_request

KEY = "sk-master"
WEATHER = {"name": "get_weather", "description": "Current weather",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
ERROR_STREAM = Path(__file__).parents[1] / "providers" / "fixtures" / "anthropic" / "stream_error.sse"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
# The top-level request fields of Anthropic's Messages API.
ANTHROPIC_FIELDS = {"model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k", "stop_sequences",
                    "stream", "metadata", "tools", "tool_choice", "output_config", "thinking", "service_tier"}


@pytest.fixture(scope="module")
def mock():
    with MockUpstreamThread(api_key="sk-upstream", stream_chunks=4) as upstream:
        yield upstream


def _overloaded_mid_stream(req, settings):
    """Anthropic's documented stream that fails with an ``error`` event after some text."""
    frames = [f + b"\n\n" for f in ERROR_STREAM.read_bytes().split(b"\n\n") if f.strip()]
    return StreamReply(frames)


@pytest.fixture(scope="module")
def erroring():
    with MockUpstreamThread(formats=[(Route("POST", "/v1/messages", _overloaded_mid_stream, ANTHROPIC),)]) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock, erroring):
    def anthropic_at(model: str) -> dict:
        # The adapter does JSON-schema output (output_config.format); the routing table is more cautious.
        return {"deployments": [{"provider": "anthropic", "model": model, "base_url": mock.url, "api_key": "sk-upstream",
                                 "capabilities": {"json_schema": True}}]}

    config = {
        "auth": {"master_key": KEY},
        "models": {
            "claude": anthropic_at("claude-sonnet-4-5"),
            "claude-429": anthropic_at("mock-429"),
            "claude-529": anthropic_at("mock-529"),
            "claude-drop": anthropic_at("mock-drop"),
            "claude-error-event": {"deployments": [{"provider": "anthropic", "model": "claude-x", "base_url": erroring.url,
                                                    "api_key": "k"}]},
            "gpt": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
                                     "api_key": "sk-upstream"}]},
            "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
        },
    }
    thread = GatewayThread(config).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def oai(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)


def post_messages(gateway, body: dict):
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    return raw_request(gateway.url, "POST", "/v1/messages", orjson.dumps(body), headers)


def last_upstream(mock, path: str = "/v1/messages") -> dict:
    request = next(r for r in reversed(mock.mock.requests) if r.path == path)
    return orjson.loads(request.body)


# -- the anthropic SDK, any model -------------------------------------------------------------

@pytest.mark.parametrize("model", ["claude", "gpt", "fake/echo"])
def test_text(claude, model):
    message = claude.messages.create(model=model, max_tokens=200, system="Be brief.",
                                     messages=[{"role": "user", "content": "hello gateway"}])
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and "hello gateway" in message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_native_path_forwards_the_body_and_the_answer_untouched(claude, mock):
    body_extra = {"top_k": 5, "temperature": 0.3}  # top_k survives only on the native path
    message = claude.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "native"}],
                                     extra_body=body_extra, extra_headers={"anthropic-beta": "some-beta-2025-01-01"})
    request = next(r for r in reversed(mock.mock.requests) if r.path == "/v1/messages")
    assert request.headers["anthropic-beta"] == "some-beta-2025-01-01"
    assert request.headers["anthropic-version"] == claude.default_headers["anthropic-version"]
    assert request.headers["x-api-key"] == "sk-upstream" and "authorization" not in request.headers
    sent = last_upstream(mock)
    assert sent["model"] == "claude-sonnet-4-5" and sent["top_k"] == 5 and sent["max_tokens"] == 50
    assert sent["messages"] == [{"role": "user", "content": "native"}]
    assert message.id.startswith("msg_mock")  # the upstream's own message, not a re-translation
    assert message.model == "claude-sonnet-4-5"


def test_translated_path_reaches_an_openai_upstream(claude, mock):
    message = claude.messages.create(model="gpt", max_tokens=20, stop_sequences=["zz"],
                                     messages=[{"role": "user", "content": "translated"}])
    sent = last_upstream(mock, "/v1/chat/completions")
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 20 and sent["stop"] == ["zz"]
    assert message.model == "gpt" and not message.id.startswith("msg_mock")


@pytest.mark.parametrize("model", ["claude", "gpt", "fake/echo"])
def test_stream(claude, model):
    with claude.messages.stream(model=model, max_tokens=200,
                                messages=[{"role": "user", "content": "one two three four"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three four"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["claude", "gpt"])
def test_stream_event_sequence_on_the_wire(gateway, model):
    body = {"model": model, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "ab cd"}]}
    response = post_messages(gateway, body)
    assert response.status == 200
    text = response.body.decode()
    frames = [f for f in text.split("\n\n") if f]
    names = [f.split("\n", 1)[0].removeprefix("event: ") for f in frames]
    assert names[:3] == ["message_start", "ping", "content_block_start"] or names[:3] == [
        "message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert "content_block_delta" in names and "content_block_stop" in names
    assert all(f.startswith("event: ") and "\ndata: {" in f for f in frames)
    assert "[DONE]" not in text


@pytest.mark.parametrize("model", ["claude", "gpt", "fake/echo"])
def test_tool_use(claude, model):
    message = claude.messages.create(model=model, max_tokens=200, tools=[WEATHER],
                                     messages=[{"role": "user", "content": "please call get_weather"}])
    assert message.stop_reason == "tool_use"
    block = next(b for b in message.content if b.type == "tool_use")
    assert block.name == "get_weather" and isinstance(block.input, dict) and block.id
    # the tool result goes back in the next turn
    follow = claude.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=[
        {"role": "user", "content": "please call get_weather"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"},
                                     {"type": "text", "text": "summarise"}]},
    ])
    assert follow.stop_reason == "end_turn" and follow.content[0].text


@pytest.mark.parametrize("model", ["claude", "gpt", "fake/echo"])
def test_tool_use_streamed(claude, model):
    with claude.messages.stream(model=model, max_tokens=200, tools=[WEATHER],
                                messages=[{"role": "user", "content": "call get_weather now"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds
    block = next(b for b in final.content if b.type == "tool_use")
    assert block.name == "get_weather" and block.input and final.stop_reason == "tool_use"


def test_tool_choice_and_tool_result_translate_to_openai(claude, mock):
    claude.messages.create(model="gpt", max_tokens=50, tools=[WEATHER],
                           tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
                           messages=[{"role": "user", "content": "x"},
                                     {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                                                        "name": "get_weather", "input": {"city": "Oslo"}}]},
                                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                                   "content": "cold"}]}])
    sent = last_upstream(mock, "/v1/chat/completions")
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    assert sent["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "cold"}


@pytest.mark.parametrize(("model", "path"), [("claude", "/v1/messages"), ("gpt", "/v1/chat/completions")])
def test_images(claude, mock, model, path):
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
               {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
               {"type": "text", "text": "what is this"}]
    message = claude.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": content}])
    assert "what is this" in message.content[0].text
    sent = last_upstream(mock, path)["messages"][-1]["content"]
    if model == "claude":
        assert sent[:2] == content[:2]
    else:
        assert sent[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
        assert sent[1] == {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}


def test_count_tokens(claude):
    small = claude.messages.count_tokens(model="gpt", messages=[{"role": "user", "content": "hi"}])
    big = claude.messages.count_tokens(model="claude", system="You are a helpful assistant.", tools=[WEATHER],
                                       messages=[{"role": "user", "content": "hello " * 50}])
    assert 0 < small.input_tokens < big.input_tokens
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model="no-such-model", messages=[{"role": "user", "content": "hi"}])


def test_invalid_json_is_an_anthropic_400(gateway):
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    response = raw_request(gateway.url, "POST", "/v1/messages", b"{nope", headers)
    assert response.status == 400
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "invalid_request_error"


# -- errors, each the right anthropic exception ---------------------------------------------------

def test_error_classes(claude, gateway):
    user = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(model="no-such-model", max_tokens=5, messages=user)
    assert info.value.body["error"]["type"] == "not_found_error"
    bad_key = anthropic.Anthropic(base_url=gateway.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad_key.messages.create(model="claude", max_tokens=5, messages=user)
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="claude-429", max_tokens=5, messages=user)
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="fake/rate-limit", max_tokens=5, messages=user)
    with pytest.raises(anthropic.InternalServerError) as info:
        claude.messages.create(model="claude-529", max_tokens=5, messages=user)
    assert info.value.body["type"] == "error" and "529" in info.value.body["error"]["message"]
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model="fake/fail", max_tokens=5, messages=user)
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="claude", max_tokens=5, messages=[{"role": "system", "content": "x"}])
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_missing_max_tokens_is_an_anthropic_400(gateway):
    response = post_messages(gateway, {"model": "claude", "messages": [{"role": "user", "content": "x"}]})
    assert response.status == 400
    assert response.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "max_tokens: Field required"}}


@pytest.mark.parametrize("model", ["claude-drop", "claude-error-event", "fake/break"])
def test_stream_failure_after_first_byte_ends_with_an_error_event(claude, gateway, model):
    with pytest.raises(anthropic.APIStatusError):
        with claude.messages.stream(model=model, max_tokens=100,
                                    messages=[{"role": "user", "content": "one two three four five six"}]) as stream:
            for _ in stream:
                pass
    body = {"model": model, "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six"}]}
    text = post_messages(gateway, body).body.decode()
    last = [f for f in text.split("\n\n") if f][-1]
    assert last.startswith("event: error\ndata: ")
    assert orjson.loads(last.split("data: ", 1)[1])["type"] == "error"
    assert "message_stop" not in text


# -- the openai SDK in front of an Anthropic upstream --------------------------------------------

def test_openai_sdk_text(oai, mock):
    reply = oai.chat.completions.create(model="claude", max_tokens=100, user="u-1", seed=3, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello claude"}])
    assert reply.choices[0].message.content == "hello claude"
    assert reply.choices[0].finish_reason == "stop" and reply.usage.total_tokens > 0
    sent = last_upstream(mock)
    assert set(sent) <= ANTHROPIC_FIELDS, set(sent) - ANTHROPIC_FIELDS
    assert sent["system"] == "Be brief." and sent["metadata"] == {"user_id": "u-1"}


def test_openai_sdk_stream_with_usage(oai, mock):
    chunks = list(oai.chat.completions.create(model="claude", stream=True, stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": "streaming words here"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streaming words here"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    sent = last_upstream(mock)
    assert sent["stream"] is True and "stream_options" not in sent and sent["max_tokens"] == 4096


def test_openai_sdk_stream_without_usage_hides_it(oai):
    chunks = list(oai.chat.completions.create(model="claude", stream=True,
                                              messages=[{"role": "user", "content": "no usage"}]))
    assert all(c.usage is None for c in chunks)


def test_openai_sdk_tool_call_with_streamed_arguments(oai):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}]
    reply = oai.chat.completions.create(model="claude", tools=tools, messages=[{"role": "user", "content": "call get_weather"}])
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and orjson.loads(call.function.arguments) == {"city": "mock"}
    chunks = list(oai.chat.completions.create(model="claude", tools=tools, stream=True,
                                              messages=[{"role": "user", "content": "call get_weather"}]))
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    assert len(deltas) > 2  # arguments arrived in pieces
    assert orjson.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "mock"}


def test_openai_sdk_json_schema_uses_structured_output(oai, mock):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    oai.chat.completions.create(model="claude", messages=[{"role": "user", "content": "json please"}],
                                response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    assert last_upstream(mock)["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_openai_sdk_upstream_errors(oai):
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="claude-429", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="claude-529", messages=[{"role": "user", "content": "x"}])


def test_openai_sdk_sees_an_upstream_error_event_as_a_terminal_error(oai, gateway):
    stream = oai.chat.completions.create(model="claude-error-event", stream=True,
                                         messages=[{"role": "user", "content": "x"}])
    text = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            text.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(text) == "Part" and "Overloaded" in str(info.value)


def test_counting_a_huge_prompt_does_not_stall_other_requests(gateway, claude):
    """~7.8 MB of prompt takes the tokenizer about a second: liveness must answer meanwhile."""
    import threading
    import time

    from tests.server.raw_http import request as raw

    words = "lorem ipsum dolor sit amet consectetur " * 200_000
    result: dict[str, int] = {}

    def count() -> None:
        result["tokens"] = claude.messages.count_tokens(
            model="gpt", messages=[{"role": "user", "content": words}]).input_tokens

    worker = threading.Thread(target=count)
    began = time.perf_counter()
    worker.start()
    probes: list[float] = []
    while worker.is_alive() and len(probes) < 400:  # bounded in count; the count ends it sooner
        started = time.perf_counter()
        assert raw(gateway.url, "GET", "/health/live", b"", {}).status == 200
        probes.append(time.perf_counter() - started)
    worker.join(timeout=30)
    took = time.perf_counter() - began
    assert result["tokens"] > 1_000_000
    # A count on the loop stalls a probe for (nearly) all of it; off the loop a probe waits at
    # most for a slice of it (the body parse, GIL switches), on a busy machine too.
    assert probes and max(probes) < max(0.25, took / 3), (max(probes), took)
