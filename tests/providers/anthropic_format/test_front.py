"""The Anthropic Messages API in front, pure: requests in, messages and events out (no network)."""

from __future__ import annotations

import orjson
import pytest

from switchyard.core.errors import InvalidRequest, UpstreamRateLimited
from switchyard.core.messages import Usage
from switchyard.providers.anthropic_format import front


def _events(frames: list[bytes]) -> list[tuple[str, dict]]:
    out = []
    for frame in frames:
        head, data = frame.split(b"\ndata: ")
        out.append((head.removeprefix(b"event: ").decode(), orjson.loads(data)))
    return out


def test_request_to_chat_body():
    body = {
        "model": "claude", "max_tokens": 50, "system": [{"type": "text", "text": "be brief"}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"},
                                              {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": True,
                                          "content": [{"type": "text", "text": "boom"}]},
                                         {"type": "text", "text": "go on"}]},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "stop_sequences": ["END"], "stream": True,
    }
    chat = front.to_chat_body(body)
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert chat["messages"][0]["content"] == "be brief"
    assert chat["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
    assert chat["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["stop"] == ["END"] and chat["stream_options"] == {"include_usage": True}


def test_a_block_openai_cannot_carry_is_a_400_naming_it():
    body = {"model": "m", "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "server_tool_use", "id": "x"}]}]}
    with pytest.raises(InvalidRequest) as raised:
        front.to_chat_body(body)
    assert raised.value.param == "messages.0.content.0.type"


def test_completion_to_message():
    completion = {"choices": [{"finish_reason": "tool_calls", "message": {
        "content": "calling", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{broken"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3}}
    message = front.to_message(completion, "claude", None)
    assert message["stop_reason"] == "tool_use" and message["model"] == "claude"
    assert message["content"][1]["input"] == {"_raw_arguments": "{broken"}
    assert message["usage"]["input_tokens"] == 10 and message["usage"]["output_tokens"] == 3


def test_stream_events():
    stream = front.MessageStream("claude")
    frames = stream.feed({"choices": [{"delta": {"content": "Hi"}}]}, None)
    frames += stream.feed({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]},
                                        "finish_reason": "tool_calls"}]}, Usage(prompt_tokens=4, completion_tokens=2))
    frames += stream.finish()
    events = _events(frames)
    assert [name for name, _ in events] == [
        "message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["input_tokens"] == 4 and delta["usage"]["output_tokens"] == 2


def test_error_body():
    body = front.error_body(UpstreamRateLimited("slow down"))
    assert body == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}


def test_a_malformed_tool_choice_is_a_400():
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": ["any"]}}
    with pytest.raises(InvalidRequest) as raised:
        front.to_chat_body(body)
    assert raised.value.param == "tool_choice.type"
