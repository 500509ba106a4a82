"""One table from OpenAI's reasoning effort to thinking budgets, and each translation's use of it."""

from __future__ import annotations

import pytest

from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import validate_chat
from switchyard.providers import bedrock_format, gemini_format, openai_format, reasoning
from switchyard.providers.anthropic_format import upstream

USER = [{"role": "user", "content": "think"}]


@pytest.mark.parametrize("effort, budget", [("none", 0), ("minimal", 1024), ("low", 1024), ("medium", 8192),
                                             ("high", 24576), ("xhigh", 32768)])
def test_effort_to_budget_and_back(effort, budget):
    assert reasoning.requested_budget({"reasoning_effort": effort}) == budget
    back = reasoning.effort_for(budget)
    assert reasoning.BUDGETS[back] >= budget or back == "high"


def test_budget_goes_to_the_smallest_effort_covering_it():
    assert [reasoning.effort_for(b) for b in (0, 1, 1024, 1025, 8192, 8193, 64000, reasoning.DYNAMIC)] == [
        "none", "low", "low", "medium", "medium", "high", "high", "medium"]


def test_an_unknown_effort_is_refused_naming_the_field():
    with pytest.raises(InvalidRequest) as info:
        reasoning.requested_budget({"reasoning_effort": "extreme"})
    assert info.value.param == "reasoning_effort" and "medium" in info.value.message


def test_anthropic_thinking_in_the_native_body_wins_with_its_exact_budget():
    native = ("anthropic", {"thinking": {"type": "enabled", "budget_tokens": 5000}})
    assert reasoning.requested_budget({"reasoning_effort": "medium"}, native) == 5000
    adaptive = ("anthropic", {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}})
    assert reasoning.requested_budget({}, adaptive) == reasoning.BUDGETS["high"]
    assert reasoning.requested_budget({}, ("anthropic", {"thinking": {"type": "adaptive"}})) == reasoning.DYNAMIC
    assert reasoning.requested_budget({}, ("anthropic", {"thinking": {"type": "disabled"}})) == 0


def test_claude_limits_keep_max_tokens_above_the_budget():
    assert reasoning.anthropic_thinking(8192, None, 4096) == ({"type": "enabled", "budget_tokens": 8192}, 12288)
    assert reasoning.anthropic_thinking(8192, 20000, 4096) == ({"type": "enabled", "budget_tokens": 8192}, 20000)
    # a limit at or under the budget shrinks the budget, never below Claude's smallest
    assert reasoning.anthropic_thinking(8192, 2000, 4096) == ({"type": "enabled", "budget_tokens": 1999}, 2000)
    with pytest.raises(InvalidRequest) as info:
        reasoning.anthropic_thinking(1024, 1024, 4096)
    assert info.value.param == "max_completion_tokens"


def test_anthropic_upstream_sends_a_client_thinking_object_as_is():
    body = validate_chat({"model": "m", "messages": USER, "thinking": {"type": "adaptive"}, "max_tokens": 300}).body
    out = upstream.build_request(body, "claude-opus-4-6")
    assert out["thinking"] == {"type": "adaptive"} and out["max_tokens"] == 300


def test_reasoning_effort_none_sends_no_thinking_to_claude():
    out = upstream.build_request({"model": "m", "messages": USER, "reasoning_effort": "none"}, "c")
    assert "thinking" not in out


def test_bedrock_and_gemini_take_an_anthropic_clients_exact_budget():
    chat = validate_chat({"model": "m", "messages": USER, "reasoning_effort": "medium", "max_tokens": 9000})
    chat.native = ("anthropic", {"thinking": {"type": "enabled", "budget_tokens": 5000}})
    converse = bedrock_format.build_converse(chat, "anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert converse["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 5000}}
    assert converse["inferenceConfig"]["maxTokens"] == 9000
    generate = gemini_format.build_request(chat)
    assert generate["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 5000, "includeThoughts": True}


def test_gemini_dynamic_thinking_for_adaptive():
    chat = validate_chat({"model": "m", "messages": USER, "thinking": {"type": "adaptive"}})
    assert gemini_format.build_request(chat)["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": -1, "includeThoughts": True}


def test_openai_upstream_loses_only_the_marks_a_translation_added():
    body = {"model": "m", "reasoning_effort": "high",
            "messages": [{"role": "system", "content": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]},
                         {"role": "assistant", "content": "a", "cache_control": {"type": "ephemeral"},
                          "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "sig"}]},
                         {"role": "user", "content": "u"}],
            "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": {"type": "ephemeral"}}]}
    translated = validate_chat(body)
    translated.native = ("anthropic", {})
    out = openai_format.build_chat_body(translated, "gpt-5")
    assert out["messages"] == [{"role": "system", "content": [{"type": "text", "text": "s"}]},
                               {"role": "assistant", "content": "a"}, {"role": "user", "content": "u"}]
    assert out["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert out["reasoning_effort"] == "high"
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}  # the client's body is untouched
    # what an OpenAI client sent itself passes through as it sent it
    assert openai_format.build_chat_body(validate_chat(body), "gpt-5")["messages"] == body["messages"]
