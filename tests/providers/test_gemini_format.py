"""Gemini wire transforms, pure, on fixtures reproducing Google's documented shapes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from switchyard.core import errors
from switchyard.core.messages import validate_chat
from switchyard.providers import gemini_format as wire
from switchyard.providers.gemini_schema import to_gemini_schema
from switchyard.transport.sse import SSEDecoder

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"

# Top-level fields of GenerateContentRequest and of its generationConfig; Google rejects others.
GEMINI_FIELDS = {"contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings",
                 "cachedContent", "labels"}
CONFIG_FIELDS = {"temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount",
                 "responseMimeType", "responseSchema", "presencePenalty", "frequencyPenalty", "seed"}

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"], "enum": ["c", "f"]}},
    "required": ["city"], "additionalProperties": False}}}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode_stream(name: str, **options) -> tuple[list, wire.StreamDecoder]:
    decoder = wire.StreamDecoder("gemini-2.5-flash", created=1, **options)
    chunks = []
    for event in SSEDecoder().feed(fixture(name)):
        chunks.extend(decoder.feed(event.data))
    return chunks, decoder


def test_full_conversation_translates_to_generate_content():
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Metric units."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            {"role": "user", "content": "Thanks"},
        ],
        "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 100, "stop": "END", "seed": 7,
        "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": True, "schema": {
            "type": "object", "properties": {"t": {"type": "number"}}, "additionalProperties": False}}},
        # OpenAI-only fields that must not reach Gemini:
        "user": "u1", "stream_options": {"include_usage": True}, "logprobs": False, "parallel_tool_calls": True,
        "metadata": {"k": "v"}, "n": 1,
    }
    out = wire.build_request(validate_chat(body))
    assert set(out) <= GEMINI_FIELDS and set(out["generationConfig"]) <= CONFIG_FIELDS
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Metric units."}]}
    user, model, tool_results, thanks = out["contents"]
    assert user["role"] == "user" and user["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    assert user["parts"][2] == {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}}
    assert model == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                                                {"functionCall": {"name": "get_time", "args": {}}}]}
    assert tool_results == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
        {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}}]}
    assert thanks == {"role": "user", "parts": [{"text": "Thanks"}]}
    config = out["generationConfig"]
    assert config["temperature"] == 0.2 and config["topP"] == 0.9 and config["maxOutputTokens"] == 100
    assert config["stopSequences"] == ["END"] and config["seed"] == 7
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {"type": "OBJECT", "properties": {"t": {"type": "NUMBER"}}}
    declaration = out["tools"][0]["functionDeclarations"][0]
    assert declaration["parameters"] == {"type": "OBJECT", "required": ["city"], "properties": {
        "city": {"type": "STRING"}, "unit": {"type": "STRING", "nullable": True, "enum": ["c", "f"]}}}
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


@pytest.mark.parametrize(("choice", "mode"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
def test_tool_choice_modes(choice, mode):
    out = wire.build_request(validate_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                            "tools": [WEATHER], "tool_choice": choice}))
    assert out["toolConfig"]["functionCallingConfig"]["mode"] == mode


def test_json_mode_and_n():
    out = wire.build_request(validate_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                            "response_format": {"type": "json_object"}, "n": 2}))
    assert out["generationConfig"] == {"responseMimeType": "application/json", "candidateCount": 2}


def test_bad_tool_arguments_name_the_field():
    body = {"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{no"}}]}]}
    with pytest.raises(errors.InvalidRequest) as info:
        wire.build_request(validate_chat(body))
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_schema_refs_are_inlined():
    schema = {"type": "object", "properties": {"item": {"$ref": "#/$defs/Item"}}, "$defs": {
        "Item": {"type": "object", "properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}}}
    assert to_gemini_schema(schema) == {"type": "OBJECT", "properties": {"item": {
        "type": "OBJECT", "properties": {"n": {"type": "INTEGER", "nullable": True}}}}}


def test_text_response_with_thoughts_and_cached_usage():
    result = wire.parse_response(fixture("response_text.json"), "gemini-2.5-flash", created=1)
    choice = result.body["choices"][0]
    assert choice["message"]["content"] == "Paris is the capital of France."
    assert choice["message"]["reasoning_content"] == "Let me think."
    assert choice["finish_reason"] == "stop"
    assert result.body["usage"] == {"prompt_tokens": 120, "completion_tokens": 58, "total_tokens": 178,
                                    "prompt_tokens_details": {"cached_tokens": 100},
                                    "completion_tokens_details": {"reasoning_tokens": 50}}
    assert result.body["id"] == "chatcmpl-mAitaKv2Dv2n1dkP6fWkmQM"


def test_parallel_tool_calls_response():
    result = wire.parse_response(fixture("response_tools.json"), "m")
    message = result.body["choices"][0]["message"]
    assert result.body["choices"][0]["finish_reason"] == "tool_calls"
    assert [orjson.loads(c["function"]["arguments"]) for c in message["tool_calls"]] == [{"city": "Paris"}, {"city": "Lyon"}]
    assert len({c["id"] for c in message["tool_calls"]}) == 2 and message["content"] is None


def test_finish_reasons():
    assert wire.parse_response(fixture("response_max_tokens.json"), "m").body["choices"][0]["finish_reason"] == "length"
    safety = wire.parse_response(fixture("response_safety_finish.json"), "m").body["choices"][0]
    assert safety["finish_reason"] == "content_filter" and safety["message"]["content"] is None


def test_blocked_prompt_is_a_content_policy_error():
    with pytest.raises(errors.ContentPolicyViolation) as info:
        wire.parse_response(fixture("response_blocked.json"), "m")
    assert "SAFETY" in info.value.message and info.value.fallback


def test_stream_text_with_usage():
    chunks, decoder = decode_stream("stream_text.sse", include_usage=True)
    chunks += decoder.close()
    deltas = [c.data["choices"][0] for c in chunks if c.data and c.data["choices"]]
    assert deltas[0]["delta"]["role"] == "assistant"
    assert "".join(d["delta"].get("content") or "" for d in deltas) == "The capital is Paris."
    assert deltas[-1]["finish_reason"] == "stop"
    assert {c.data["id"] for c in chunks} == {"chatcmpl-s1"}
    last = chunks[-1]
    assert last.data["choices"] == [] and last.usage.completion_tokens == 25
    assert last.data["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}


def test_stream_usage_is_invisible_unless_asked():
    chunks, decoder = decode_stream("stream_text.sse")
    (tail,) = decoder.close()
    assert tail.data is None and tail.raw is None and tail.usage.prompt_tokens == 10


def test_stream_tool_call_arrives_whole():
    chunks, decoder = decode_stream("stream_tools.sse")
    (call,) = [d for c in chunks for d in c.data["choices"][0]["delta"].get("tool_calls") or ()]
    assert call["index"] == 0 and call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert chunks[-1].data["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_error_event_raises():
    with pytest.raises(errors.UpstreamUnavailable) as info:
        decode_stream("stream_error.sse")
    assert "overloaded" in info.value.message


def test_stream_ending_without_finish_raises():
    chunks, decoder = decode_stream("stream_truncated.sse")
    assert chunks and chunks[0].data["choices"][0]["delta"]["content"] == "Partial"
    with pytest.raises(errors.UpstreamProtocolError):
        decoder.close()


@pytest.mark.parametrize("case", orjson.loads((FIXTURES / "errors.json").read_bytes()), ids=lambda c: str(c["status"]))
def test_error_bodies(case):
    raw = case.get("raw", "").encode() if case["body"] is None else orjson.dumps(case["body"])
    err = wire.parse_error(case["status"], raw, case["headers"].get)
    expect = case["expect"]
    assert type(err).__name__ == expect["class"] and err.status == expect["status"]
    if "retry_after" in expect:
        assert err.retry_after == expect["retry_after"]


def test_embeddings_round_trip():
    body = wire.build_embed_request(["a", "bb"], "text-embedding-004", {"dimensions": 8}, {"task_type": "retrieval_query"})
    assert body["requests"][1] == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "bb"}]},
                                   "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 8}
    raw = orjson.dumps({"embeddings": [{"values": [0.5, 0.25]}, {"values": [1.0, 0.0]}]})
    result = wire.parse_embed_response(raw, "m", ["a", "bb"], None)
    assert [d["embedding"] for d in result.body["data"]] == [[0.5, 0.25], [1.0, 0.0]]
    packed = wire.parse_embed_response(raw, "m", ["a", "bb"], "base64").body["data"][0]["embedding"]
    assert packed == "AAAAPwAAgD4="  # float32 LE of 0.5, 0.25
