"""Request validation names the offending field; bodies pass through untouched."""

from __future__ import annotations

import pytest

from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import (
    Chunk,
    Usage,
    parse_json_body,
    validate_chat,
    validate_completion,
    validate_embedding,
)

USER = [{"role": "user", "content": "hi"}]


def _invalid(fn, body) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        fn(body)
    err = info.value
    assert err.status == 400 and err.type == "invalid_request_error"
    return err


def test_valid_chat_keeps_body_and_reads_fields():
    body = {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True},
            "max_completion_tokens": 5, "user": "u", "metadata": {"k": "v"}, "unknown_vendor_field": [1]}
    chat = validate_chat(body)
    assert chat.body is body
    assert (chat.model, chat.stream, chat.include_usage, chat.max_tokens, chat.user) == ("m", True, True, 5, "u")
    assert chat.metadata == {"k": "v"}
    assert chat.messages == USER


@pytest.mark.parametrize(
    "body, param",
    [
        ({"messages": USER}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "", "messages": USER}, "model"),
        ({"model": 3, "messages": USER}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "m", "messages": USER + ["x"]}, "messages[1]"),
        ({"model": "m", "messages": USER, "temperature": 3}, "temperature"),
        ({"model": "m", "messages": USER, "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": USER, "top_p": 1.5}, "top_p"),
        ({"model": "m", "messages": USER, "n": 0}, "n"),
        ({"model": "m", "messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": USER, "stream": "yes"}, "stream"),
        ({"model": "m", "messages": USER, "stream_options": {"include_usage": "y"}}, "stream_options.include_usage"),
        ({"model": "m", "messages": USER, "stop": 5}, "stop"),
        ({"model": "m", "messages": USER, "tools": {"a": 1}}, "tools"),
        ({"model": "m", "messages": USER, "tool_choice": 1}, "tool_choice"),
        ({"model": "m", "messages": USER, "response_format": "json"}, "response_format"),
        ({"model": "m", "messages": USER, "seed": 1.5}, "seed"),
        ({"model": "m", "messages": USER, "user": 1}, "user"),
    ],
)
def test_chat_errors_name_their_param(body, param):
    err = _invalid(validate_chat, body)
    assert err.param == param
    assert param.split("[")[0].split(".")[0] in err.message


def test_embedding_validation():
    assert validate_embedding({"model": "e", "input": "x"}).inputs == ["x"]
    assert validate_embedding({"model": "e", "input": ["a", "b"]}).inputs == ["a", "b"]
    assert validate_embedding({"model": "e", "input": [1, 2]}).inputs == [[1, 2]]
    assert _invalid(validate_embedding, {"model": "e", "input": []}).param == "input"
    assert _invalid(validate_embedding, {"model": "e"}).param == "input"
    assert _invalid(validate_embedding, {"model": "e", "input": "x", "encoding_format": "hex"}).param == "encoding_format"
    assert _invalid(validate_embedding, {"input": "x"}).param == "model"


@pytest.mark.parametrize("body, param", [
    ({"input": ["a"] * 2049}, "input"),                      # OpenAI's limit of 2048 inputs
    ({"input": [[1, 2], []]}, "input[1]"),                   # an empty token-id list
    ({"input": ["a", 1]}, "input"),                          # strings and token ids mixed
    ({"input": [[1], 2]}, "input"),
    ({"input": "x", "dimensions": 16385}, "dimensions"),     # no model has more; the mock would build it
    ({"input": "x", "dimensions": 0}, "dimensions"),
])
def test_embedding_inputs_are_bounded_and_of_one_kind(body, param):
    error = _invalid(validate_embedding, {"model": "e", **body})
    assert error.param == param and error.code == "invalid_value"
    assert validate_embedding({"model": "e", "input": ["a"] * 2048, "dimensions": 16384})


@pytest.mark.parametrize("body, param", [
    ({}, "prompt"),                                          # required by OpenAI's spec (null allowed)
    ({"prompt": "x", "temperature": 3}, "temperature"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "logprobs": 6}, "logprobs"),
    ({"prompt": "x", "best_of": "2"}, "best_of"),
    ({"prompt": "x", "logit_bias": {"50256": "ban"}}, "logit_bias"),
    ({"prompt": "x", "stop": [1]}, "stop[0]"),
    ({"prompt": "x", "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
    ({"prompt": "x", "frequency_penalty": -2.5}, "frequency_penalty"),
])
def test_completion_fields_are_checked_as_openai_specifies(body, param):
    assert _invalid(validate_completion, {"model": "c", **body}).param == param
    assert validate_completion({"model": "c", "prompt": None}).model == "c"


def test_completion_validation():
    legacy = validate_completion({"model": "c", "prompt": "say", "stream": True, "echo": True})
    assert legacy.stream and legacy.body["echo"] is True
    assert _invalid(validate_completion, {"model": "c", "prompt": 5}).param == "prompt"
    assert _invalid(validate_completion, {"prompt": "x"}).param == "model"


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"a": 1', b"\xff\xfe{}", b'{"model": "\xc3\x28"}'])
def test_parse_json_body_rejects_malformed(raw):
    err = _invalid(parse_json_body, raw)
    assert err.code == "invalid_json"


def test_parse_json_body_names_invalid_utf8():
    err = _invalid(parse_json_body, b'{"model": "\xc3\x28"}')
    assert "UTF-8" in err.message


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"text"', b"null"])
def test_parse_json_body_requires_an_object(raw):
    assert "JSON object" in _invalid(parse_json_body, raw).message


def test_usage_round_trip_and_chunk_bytes():
    usage = Usage.from_openai({"prompt_tokens": 2, "completion_tokens": 3,
                               "prompt_tokens_details": {"cached_tokens": 1}})
    assert usage.total_tokens == 5 and usage.to_openai()["prompt_tokens_details"] == {"cached_tokens": 1}
    assert Usage.from_openai(None) is None
    assert Chunk(raw=b'{"a":1}').json() == {"a": 1}
    assert Chunk(data={"a": 1}).to_bytes() == b'{"a":1}'


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": "ephemeral"}]}]},
         "messages[0].content[0].cache_control"),
        ({"messages": [{"role": "user", "content": "x", "cache_control": ["ephemeral"]}]}, "messages[0].cache_control"),
        ({"tools": [{"type": "function", "function": {"name": "f"}, "cache_control": 1}]}, "tools[0].cache_control"),
        ({"messages": [{"role": "assistant", "content": "x", "thinking_blocks": [{"type": "thinking", "thinking": "t"}]}]},
         "messages[0].thinking_blocks[0].signature"),
        ({"messages": [{"role": "assistant", "content": "x", "thinking_blocks": [{"type": "musing", "data": "d"}]}]},
         "messages[0].thinking_blocks[0].type"),
        ({"thinking": {"type": "maybe"}}, "thinking.type"),
        ({"thinking": {"type": "enabled", "budget_tokens": -1}}, "thinking.budget_tokens"),
        ({"reasoning_effort": 3}, "reasoning_effort"),
    ],
)
def test_cache_marks_thinking_blocks_and_reasoning_fields_are_checked(extra, param):
    err = _invalid(validate_chat, {"model": "m", "messages": USER, **extra})
    assert err.param == param


def test_usage_details_are_none_when_unreported_and_zero_when_reported():
    plain = Usage.from_openai({"prompt_tokens": 3, "completion_tokens": 2})
    assert (plain.cached_tokens, plain.cache_write_tokens, plain.reasoning_tokens) == (None, None, None)
    assert plain.to_openai() == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    zero = Usage.from_openai({"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 0},
                              "completion_tokens_details": {"reasoning_tokens": 0}})
    assert (zero.cached_tokens, zero.reasoning_tokens) == (0, 0)
    assert zero.to_openai()["prompt_tokens_details"] == {"cached_tokens": 0}
    assert zero.to_openai()["completion_tokens_details"] == {"reasoning_tokens": 0}


def test_usage_reads_cache_writes_and_deepseek_cache_hits():
    written = Usage.from_openai({"prompt_tokens": 100, "completion_tokens": 1,
                                 "prompt_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 50}})
    assert (written.cached_tokens, written.cache_write_tokens, written.uncached_prompt_tokens) == (40, 50, 10)
    other_gateway = Usage.from_openai({"prompt_tokens": 100, "completion_tokens": 1,
                                       "prompt_tokens_details": {"cache_creation_tokens": 30}})
    assert other_gateway.cache_write_tokens == 30 and other_gateway.cached_tokens is None
    deepseek = Usage.from_openai({"prompt_tokens": 100, "completion_tokens": 1, "prompt_cache_hit_tokens": 64,
                                  "prompt_cache_miss_tokens": 36})
    assert deepseek.cached_tokens == 64 and deepseek.uncached_prompt_tokens == 36
