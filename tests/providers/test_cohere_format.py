"""Cohere chat v2 wire transforms, pure, on fixtures reproducing Cohere's documented shapes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from switchyard.core import errors
from switchyard.core.messages import validate_chat
from switchyard.providers import cohere_format as wire
from switchyard.transport.sse import SSEDecoder

FIXTURES = Path(__file__).parent / "fixtures" / "cohere"

# Top-level fields of Cohere's /v2/chat; anything else is rejected.
COHERE_FIELDS = {"model", "messages", "stream", "tools", "documents", "citation_options", "response_format",
                 "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty",
                 "presence_penalty", "k", "p", "logprobs", "tool_choice", "strict_tools", "thinking", "priority"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode_stream(name: str, **options) -> tuple[list, wire.StreamDecoder]:
    decoder = wire.StreamDecoder("command-a", created=1, **options)
    chunks = []
    for event in SSEDecoder().feed(fixture(name)):
        chunks.extend(decoder.feed(event.data))
    return chunks, decoder


def test_conversation_translates_to_v2_chat():
    body = {
        "model": "alias",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "21C"},
        ],
        "top_p": 1.0, "max_tokens": 50, "stop": ["END"], "temperature": 0.3,
        "tools": [WEATHER, CLOCK], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "user": "u", "stream_options": {"include_usage": True}, "logprobs": True, "parallel_tool_calls": False, "n": 1,
    }
    out = wire.build_request(validate_chat(body), "command-a-03-2025")
    assert set(out) <= COHERE_FIELDS and "logprobs" not in out and "stream" not in out
    assert out["model"] == "command-a-03-2025"
    system, user, assistant, tool = out["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert user["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert assistant["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"location":"Paris"}'}
    assert tool == {"role": "tool", "tool_call_id": "c1", "content": "21C"}
    assert out["p"] == 0.99 and out["max_tokens"] == 50 and out["stop_sequences"] == ["END"]
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather"] and out["tool_choice"] == "REQUIRED"
    assert out["response_format"] == {"type": "json_object", "json_schema": {"type": "object"}}


def test_n_above_one_is_refused_by_name():
    with pytest.raises(errors.InvalidRequest) as info:
        wire.build_request(validate_chat({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}), "m")
    assert info.value.param == "n"


def test_text_response_uses_billed_units():
    result = wire.parse_response(fixture("response_text.json"), "command-a", created=1)
    assert result.body["choices"][0]["message"]["content"] == "LLMs are neural networks trained on text."
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert result.body["usage"] == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14,
                                    "prompt_tokens_details": {"cached_tokens": 3}}


def test_tool_call_response():
    result = wire.parse_response(fixture("response_tools.json"), "command-a")
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [{"id": "get_weather_1byjy32y4hvq", "type": "function",
                                                "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'}}]


def test_stream_text_with_usage():
    chunks, decoder = decode_stream("stream_text.sse", include_usage=True)
    chunks += decoder.close()
    deltas = [c.data["choices"][0] for c in chunks if c.data and c.data["choices"]]
    assert deltas[0]["delta"]["role"] == "assistant"
    assert "".join(d["delta"].get("content") or "" for d in deltas) == "A large language model"
    assert deltas[-1]["finish_reason"] == "stop"
    assert chunks[-1].data["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert {c.data["id"] for c in chunks} == {"chatcmpl-29f14a5a-11de-4cae-9800-25e4747408ed"}


def test_stream_tool_calls_stream_their_arguments():
    chunks, decoder = decode_stream("stream_tools.sse")
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for call in chunk.data["choices"][0]["delta"].get("tool_calls") or ():
            entry = calls.setdefault(call["index"], {"id": call.get("id"), "name": "", "arguments": ""})
            entry["name"] += call.get("function", {}).get("name") or ""
            entry["arguments"] += call.get("function", {}).get("arguments") or ""
    assert [orjson.loads(c["arguments"]) for c in calls.values()] == [{"location": "Toronto"}, {"location": "Paris"}]
    assert calls[0]["id"] == "get_weather_nsz5zm3w56q3" and calls[1]["name"] == "get_weather"
    assert chunks[-1].data["choices"][0]["finish_reason"] == "tool_calls"
    (tail,) = decoder.close()
    assert tail.data is None and tail.usage.completion_tokens == 28


def test_stream_error_finish_raises():
    with pytest.raises(errors.UpstreamUnavailable):
        decode_stream("stream_error.sse")


def test_stream_ending_without_message_end_raises():
    chunks, decoder = decode_stream("stream_truncated.sse")
    assert chunks
    with pytest.raises(errors.UpstreamProtocolError):
        decoder.close()


@pytest.mark.parametrize("case", orjson.loads((FIXTURES / "errors.json").read_bytes()), ids=lambda c: str(c["status"]))
def test_error_bodies(case):
    err = wire.parse_error(case["status"], orjson.dumps(case["body"]), case["headers"].get)
    expect = case["expect"]
    assert type(err).__name__ == expect["class"] and err.status == expect["status"]
    assert err.message.endswith(case["body"]["message"])  # auth errors prefix theirs
    if "retry_after" in expect:
        assert err.retry_after == expect["retry_after"]


def test_embeddings():
    body = wire.build_embed_request(["a"], "embed-v4.0", {"dimensions": 256}, {})
    assert body == {"model": "embed-v4.0", "texts": ["a"], "input_type": "search_document",
                    "embedding_types": ["float"], "output_dimension": 256}
    raw = orjson.dumps({"id": "x", "embeddings": {"float": [[0.1, 0.2]]}, "texts": ["a"],
                        "meta": {"billed_units": {"input_tokens": 2}}})
    result = wire.parse_embed_response(raw, "embed-v4.0", ["a"], None)
    assert result.body["data"][0]["embedding"] == [0.1, 0.2] and result.usage.prompt_tokens == 2
