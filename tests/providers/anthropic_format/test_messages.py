"""The tables both directions of the Anthropic format share: each mapping, both ways."""

from __future__ import annotations

import pytest

from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import Usage
from switchyard.providers.anthropic_format import messages


def test_stop_reasons_map_both_ways():
    assert messages.finish_reason("end_turn") == "stop"
    assert messages.finish_reason("stop_sequence") == "stop"
    assert messages.finish_reason("max_tokens") == "length"
    assert messages.finish_reason("model_context_window_exceeded") == "length"
    assert messages.finish_reason("tool_use") == "tool_calls"
    assert messages.finish_reason("refusal") == "content_filter"
    assert messages.finish_reason(None) == messages.finish_reason("unheard_of") == "stop"
    assert messages.stop_reason("stop") == "end_turn"
    assert messages.stop_reason("length") == "max_tokens"
    assert messages.stop_reason("tool_calls") == messages.stop_reason("function_call") == "tool_use"
    assert messages.stop_reason("content_filter") == "refusal"
    assert messages.stop_reason(None) == messages.stop_reason("unheard_of") == "end_turn"


def test_every_finish_reason_survives_a_round_trip():
    for _, finish in messages.STOP_REASONS:
        back = messages.finish_reason(messages.stop_reason(finish))
        assert back == ("tool_calls" if finish == "function_call" else finish)


def test_tool_choices_are_one_table_read_both_ways():
    for anthropic, openai in messages.TOOL_CHOICES.items():
        assert messages.TOOL_CHOICE_TYPES[openai] == anthropic


def test_sources_and_data_urls():
    source = messages.url_to_source("data:image/png;base64,AAAA", "p")
    assert source == {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    assert messages.source_to_url(source, "p") == "data:image/png;base64,AAAA"
    assert messages.url_to_source("https://x/y.png", "p") == {"type": "url", "url": "https://x/y.png"}
    assert messages.source_to_url({"type": "url", "url": "https://x/y.png"}, "p") == "https://x/y.png"
    with pytest.raises(InvalidRequest):
        messages.url_to_source("data:image/png,notbase64", "p")
    with pytest.raises(InvalidRequest) as raised:
        messages.source_to_url({"type": "file", "file_id": "f"}, "messages.0.content.0")
    assert raised.value.param == "messages.0.content.0.source.type"


def test_tool_use_blocks_and_calls():
    call = messages.tool_call({"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}})
    assert call == {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    assert messages.tool_input(call["function"]["arguments"]) == {"a": 1}
    assert messages.tool_input("") == {} and messages.tool_input({"b": 2}) == {"b": 2}
    with pytest.raises(ValueError):
        messages.tool_input("{not json")


def test_joined_text_reads_parts_and_blocks_alike():
    assert messages.joined_text("plain") == "plain"
    blocks = [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]
    assert messages.joined_text(blocks) == "a\nb"
    assert messages.joined_text(blocks, "") == "ab"
    assert messages.joined_text(None) == ""


def test_usage_counts_cache_inside_prompt_tokens_and_back():
    usage = messages.usage_to_core({"input_tokens": 5, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 3,
                                    "output_tokens": 40})
    # Anthropic reports no reasoning count: its thinking is inside output_tokens, so it stays unknown.
    assert usage == Usage(prompt_tokens=15, completion_tokens=40, cached_tokens=7, cache_write_tokens=3,
                          reasoning_tokens=None)
    back = messages.usage_from_core(usage)
    assert back == {"input_tokens": 5, "output_tokens": 40, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 3}
    assert messages.usage_to_core(None) is None


def test_usage_tells_a_reported_zero_from_a_missing_count():
    zero = messages.usage_to_core({"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 0,
                                   "cache_creation_input_tokens": 0})
    assert zero.cached_tokens == 0 and zero.cache_write_tokens == 0
    assert zero.to_openai()["prompt_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    missing = messages.usage_to_core({"input_tokens": 5, "output_tokens": 1})
    assert missing.cached_tokens is None and missing.cache_write_tokens is None
    assert "prompt_tokens_details" not in missing.to_openai() and "completion_tokens_details" not in missing.to_openai()
    assert messages.usage_from_core(missing)["cache_read_input_tokens"] is None
    assert messages.usage_from_core(None) == {"input_tokens": 0, "output_tokens": 0}


def test_error_types_and_statuses_are_one_table_read_both_ways():
    assert messages.status_of("overloaded_error") == 529 and messages.status_of("timeout_error") == 504
    assert messages.status_of("api_error") == 500 and messages.status_of("unheard_of") == messages.status_of(None) == 500
    assert messages.error_type_of(503) == messages.error_type_of(529) == "overloaded_error"
    assert messages.error_type_of(502) == messages.error_type_of(504) == "api_error"
    assert messages.error_type_of(429) == "rate_limit_error" and messages.error_type_of(418) == "api_error"
    for kind, _ in messages.ERROR_TYPES:
        assert messages.error_type_of(messages.status_of(kind)) in (kind, "api_error")
