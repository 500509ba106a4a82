"""Anthropic wire transforms, pure, on fixtures reproducing Anthropic's documented shapes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from switchyard.core.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from switchyard.providers.anthropic_format import upstream as wire

FIXTURES = Path(__file__).parents[1] / "fixtures" / "anthropic"

# The top-level request fields of Anthropic's Messages API; anything else is rejected.
ANTHROPIC_FIELDS = {
    "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k", "stop_sequences", "stream",
    "metadata", "tools", "tool_choice", "output_config", "thinking", "service_tier", "container",
    "context_management", "mcp_servers", "inference_geo",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def test_full_conversation_translates_to_messages_api():
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather here and there?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "24C"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [WEATHER],
        "tool_choice": "required",
        "temperature": 1.7,
        "top_p": 0.9,
        "stop": "END",
        "max_completion_tokens": 300,
        "user": "user-42",
        "stream": True,
    }
    out = wire.build_request(body, "claude-sonnet-4-5")
    assert out["model"] == "claude-sonnet-4-5"
    assert out["system"] == "Be brief.\n\nUse metric units."
    assert out["max_tokens"] == 300
    assert out["temperature"] == 1.0  # clamped to Anthropic's range
    assert out["top_p"] == 0.9
    assert out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "user-42"}
    assert out["stream"] is True
    assert out["tools"] == [{"name": "get_weather", "description": "Weather now",
                             "input_schema": WEATHER["function"]["parameters"]}]
    assert out["tool_choice"] == {"type": "any"}
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "user"]  # tool results and the next user turn merged
    user = out["messages"][0]["content"]
    assert user[1] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    assert user[2] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    calls = out["messages"][1]["content"]
    assert [c["type"] for c in calls] == ["tool_use", "tool_use"]
    assert calls[1] == {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}
    results = out["messages"][2]["content"]
    assert results[0] == {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "18C"}]}
    assert results[1]["tool_use_id"] == "call_2"
    assert results[2] == {"type": "text", "text": "Thanks"}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice(choice, expected):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER], "tool_choice": choice}
    assert wire.build_request(body, "c")["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_use():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER], "parallel_tool_calls": False}
    assert wire.build_request(body, "c")["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_default_max_tokens_is_supplied():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert wire.build_request(body, "c")["max_tokens"] == wire.DEFAULT_MAX_TOKENS
    assert wire.build_request(body, "c", default_max_tokens=77)["max_tokens"] == 77


def test_never_sends_a_field_anthropic_rejects():
    body = {
        "model": "m", "messages": [{"role": "user", "content": "x", "name": "bob"}], "n": 1, "seed": 7,
        "stream": True, "stream_options": {"include_usage": True}, "logprobs": True, "top_logprobs": 2,
        "presence_penalty": 0.5, "frequency_penalty": 0.5, "logit_bias": {"1": 2}, "user": "u",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "parallel_tool_calls": True, "service_tier": "default", "store": True, "reasoning_effort": "low",
        "max_tokens": 2000, "max_completion_tokens": 2048, "metadata": {"a": "b"}, "modalities": ["text"],
    }
    out = wire.build_request(body, "c")
    assert set(out) <= ANTHROPIC_FIELDS, set(out) - ANTHROPIC_FIELDS
    assert "name" not in out["messages"][0]
    assert out["metadata"] == {"user_id": "u"}


def test_n_above_one_is_refused_naming_the_field():
    with pytest.raises(InvalidRequest) as info:
        wire.build_request({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "c")
    assert info.value.param == "n"


def test_bad_tool_arguments_name_the_field():
    body = {"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]}
    with pytest.raises(InvalidRequest) as info:
        wire.build_request(body, "c")
    assert info.value.param == "messages[0].tool_calls[0].function.arguments"


def test_unsupported_content_part_is_named():
    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}
    with pytest.raises(InvalidRequest) as info:
        wire.build_request(body, "c")
    assert info.value.param == "messages[0].content[0].type"


def test_json_schema_uses_native_structured_output():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema}}}
    out = wire.build_request(body, "c")
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "tools" not in out and not wire.json_tool_forced(out)


def test_json_schema_tool_forcing_roundtrip():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema}}}
    out = wire.build_request(body, "c", structured="tool")
    assert out["tools"][-1]["name"] == wire.JSON_TOOL and out["tools"][-1]["input_schema"] == schema
    assert out["tool_choice"] == {"type": "tool", "name": wire.JSON_TOOL}
    assert wire.json_tool_forced(out)
    answer = {"type": "message", "id": "msg_1", "model": "c", "stop_reason": "tool_use",
              "content": [{"type": "tool_use", "id": "t", "name": wire.JSON_TOOL, "input": {"a": 1}}],
              "usage": {"input_tokens": 1, "output_tokens": 2}}
    result = wire.parse_message(orjson.dumps(answer), json_tool=True)
    choice = result.body["choices"][0]
    assert orjson.loads(choice["message"]["content"]) == {"a": 1}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]


def test_json_object_forces_a_generic_object_tool():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
    out = wire.build_request(body, "c")
    assert out["tools"] == [{"name": wire.JSON_TOOL, "description": "Answer with the requested JSON object.",
                             "input_schema": {"type": "object"}}]


def test_text_message_and_cache_usage():
    result = wire.parse_message(fixture("message_text.json"))
    choice = result.body["choices"][0]
    assert result.body["object"] == "chat.completion"
    assert choice["message"] == {"role": "assistant", "content": "Hi! My name is Claude.", "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert result.usage.prompt_tokens == 12 + 100 + 2000
    assert result.usage.cached_tokens == 2000
    assert result.usage.completion_tokens == 9
    assert result.body["usage"]["prompt_tokens_details"] == {"cached_tokens": 2000, "cache_write_tokens": 100}


def test_parallel_tool_use_message():
    result = wire.parse_message(fixture("message_tool_use.json"))
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check both cities."
    calls = choice["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["toolu_01A09q90qw90lq917835lq9", "toolu_01B19r91rw91mr928946mr0"]
    assert orjson.loads(calls[1]["function"]["arguments"]) == {"location": "Paris, France"}


@pytest.mark.parametrize(("reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length"),
])
def test_stop_reason_mapping(reason, finish):
    message = orjson.loads(fixture("message_max_tokens.json"))
    message["stop_reason"] = reason
    assert wire.parse_message(orjson.dumps(message)).body["choices"][0]["finish_reason"] == finish


def test_errors_by_status():
    no_headers = lambda _: None  # noqa: E731
    overloaded = wire.parse_error(529, fixture("error_overloaded.json"), no_headers)
    assert isinstance(overloaded, UpstreamUnavailable) and overloaded.retryable and overloaded.fallback
    assert overloaded.message == "Overloaded"
    limited = wire.parse_error(429, fixture("error_rate_limit.json"), {"retry-after": "7"}.get)
    assert isinstance(limited, UpstreamRateLimited) and limited.retry_after == 7.0
    invalid = wire.parse_error(400, fixture("error_invalid_request.json"), no_headers)
    assert isinstance(invalid, UpstreamRejected) and invalid.status == 400 and not invalid.retryable
    assert invalid.message == "max_tokens: Field required"
    too_long = wire.parse_error(400, fixture("error_context.json"), no_headers)
    assert isinstance(too_long, ContextWindowExceeded) and too_long.fallback
    opaque = wire.parse_error(502, b"<html>bad gateway</html>", no_headers)
    assert isinstance(opaque, UpstreamUnavailable) and "502" in opaque.message


def test_error_body_on_a_200_is_raised():
    with pytest.raises(UpstreamUnavailable):
        wire.parse_message(fixture("error_overloaded.json"))


def test_empty_tool_result_and_empty_assistant_turn():
    body = {"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                              "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": ""},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "y"},
    ]}
    turns = wire.build_request(body, "c")["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [{"type": "tool_use", "id": "c1", "name": "f", "input": {}}]
    assert turns[2]["content"] == [{"type": "tool_result", "tool_use_id": "c1"}, {"type": "text", "text": "y"}]
