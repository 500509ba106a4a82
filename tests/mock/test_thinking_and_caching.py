"""The mock upstream caches and thinks as the real APIs do, and refuses what they refuse."""

from __future__ import annotations

import anthropic
import orjson
import pytest

from switchyard.mock import MockUpstreamThread, wire
from tests.server.raw_http import request as raw_request

LONG = "Long reference text for the prompt cache. " * 120  # about 1300 tokens


@pytest.fixture(scope="module")
def mock():
    with MockUpstreamThread(stream_chunks=2) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def client(mock):
    return anthropic.Anthropic(base_url=mock.url, api_key="k", max_retries=0)


def test_prompt_cache_reads_the_longest_seen_prefix_and_writes_the_rest():
    cache = wire.PromptCache(capacity=2)
    assert cache.use([("a", 1500)]) == (0, 1500)
    assert cache.use([("a", 1500), ("b", 2000)]) == (1500, 500)
    assert cache.use([("a", 1500), ("b", 2000)]) == (2000, 0)
    assert cache.use([("small", 1000)]) == (0, 0)  # under the smallest cacheable prefix: never cached
    cache.use([("c", 1200)])
    cache.use([("d", 1200)])  # capacity 2: the least recently used ("a", "b") are forgotten
    assert cache.use([("a", 1500)]) == (0, 1500)


def test_prefix_hashes_depend_on_everything_before_each_breakpoint():
    first = wire.prefix_hashes([("x", 10, True), ("y", 20, False), ("z", 30, True)])
    assert [tokens for _, tokens in first] == [10, 60]
    changed = wire.prefix_hashes([("x", 10, True), ("Y", 20, False), ("z", 30, True)])
    assert first[0][0] == changed[0][0] and first[1][0] != changed[1][0]


def test_anthropic_cache_usage_by_cache_control(client):
    system = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    first = client.messages.create(model="m", max_tokens=10, system=system, messages=[{"role": "user", "content": "a"}])
    written = first.usage.cache_creation_input_tokens
    assert written > 1024 and first.usage.cache_read_input_tokens == 0
    second = client.messages.create(model="m", max_tokens=10, system=system, messages=[{"role": "user", "content": "b"}])
    assert (second.usage.cache_read_input_tokens, second.usage.cache_creation_input_tokens) == (written, 0)
    unmarked = client.messages.create(model="m", max_tokens=10, system=LONG + " other",
                                      messages=[{"role": "user", "content": "a"}])
    assert unmarked.usage.cache_creation_input_tokens == unmarked.usage.cache_read_input_tokens == 0


def test_anthropic_thinking_streams_signed(client):
    with client.messages.stream(model="m", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024},
                                messages=[{"role": "user", "content": "hm"}]) as stream:
        message = stream.get_final_message()
    thought = wire.thought("hm")
    assert message.content[0].type == "thinking" and message.content[0].thinking == thought
    assert message.content[0].signature == wire.signature(thought) and message.content[1].text == "hm"
    assert message.usage.output_tokens == wire.count_tokens(thought) + wire.count_tokens("hm")


def test_anthropic_redacted_thinking_on_the_test_string(client):
    prompt = "please " + wire.REDACTED_THINKING_TRIGGER
    message = client.messages.create(model="m", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024},
                                     messages=[{"role": "user", "content": prompt}])
    assert message.content[0].type == "redacted_thinking" and wire.redacted_ok(message.content[0].data)


@pytest.mark.parametrize("thinking, max_tokens, wording", [
    ({"type": "enabled", "budget_tokens": 500}, 3000, "greater than or equal to 1024"),
    ({"type": "enabled", "budget_tokens": 2000}, 2000, "`max_tokens` must be greater than"),
])
def test_anthropic_thinking_limits(client, thinking, max_tokens, wording):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="m", max_tokens=max_tokens, thinking=thinking,
                               messages=[{"role": "user", "content": "x"}])
    assert wording in str(info.value)


def test_anthropic_checks_signatures_sent_back(client):
    turn = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "forged", "signature": "c2lnbmVk"},
                                              {"type": "text", "text": "a"}]},
            {"role": "user", "content": "next"}]
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="m", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024}, messages=turn)
    assert "messages.1.content.0: Invalid `signature`" in str(info.value)
    turn[1]["content"][0]["signature"] = wire.signature("forged")
    ok = client.messages.create(model="m", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024}, messages=turn)
    assert ok.content[-1].text == "next"


def _gemini(mock, body: dict) -> tuple[int, dict]:
    reply = raw_request(mock.url, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", orjson.dumps(body),
                        {"content-type": "application/json"})
    return reply.status, reply.json()


def test_gemini_thoughts_and_their_usage(mock):
    body = {"contents": [{"role": "user", "parts": [{"text": "why"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}}
    status, answer = _gemini(mock, body)
    assert status == 200
    parts = answer["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": wire.thought("why"), "thought": True} and parts[1] == {"text": "why"}
    assert answer["usageMetadata"]["thoughtsTokenCount"] == wire.count_tokens(wire.thought("why"))
    body["generationConfig"]["thinkingConfig"] = {"thinkingBudget": 0}
    status, answer = _gemini(mock, body)
    assert "thoughtsTokenCount" not in answer["usageMetadata"] and len(answer["candidates"][0]["content"]["parts"]) == 1


def test_gemini_refuses_unknown_thinking_fields_and_unsigned_calls(mock):
    status, answer = _gemini(mock, {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                                    "generationConfig": {"thinkingConfig": {"budget": 5}}})
    assert status == 400 and "thinking_config" in answer["error"]["message"]
    call = {"name": "f", "args": {}}
    history = [{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [{"functionCall": call}]},
               {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]
    thinking = {"thinkingConfig": {"thinkingBudget": 1024}}
    status, answer = _gemini(mock, {"contents": history, "generationConfig": thinking})
    assert status == 400 and "thought_signature" in answer["error"]["message"]
    history[1]["parts"][0]["thoughtSignature"] = wire.signature(orjson.dumps(call, option=orjson.OPT_SORT_KEYS).decode())
    assert _gemini(mock, {"contents": history, "generationConfig": thinking})[0] == 200
    history[1]["parts"][0].pop("thoughtSignature")
    assert _gemini(mock, {"contents": history})[0] == 200  # without thinking nothing is checked


def test_gemini_implicit_cache(mock):
    body = {"systemInstruction": {"parts": [{"text": LONG + " gemini"}]}, "contents": [{"role": "user", "parts": [{"text": "a"}]}]}
    assert "cachedContentTokenCount" not in _gemini(mock, body)[1]["usageMetadata"]
    usage = _gemini(mock, body)[1]["usageMetadata"]
    assert 1024 < usage["cachedContentTokenCount"] < usage["promptTokenCount"]


def test_openai_details_cached_and_reasoning(mock):
    body = {"model": "gpt-5", "reasoning_effort": "low",
            "messages": [{"role": "system", "content": LONG + " openai"}, {"role": "user", "content": "a"}]}
    first = raw_request(mock.url, "POST", "/v1/chat/completions", orjson.dumps(body), {"content-type": "application/json"})
    usage = first.json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == wire.count_tokens(wire.thought("a"))
    second = raw_request(mock.url, "POST", "/v1/chat/completions", orjson.dumps(body), {"content-type": "application/json"})
    cached = second.json()["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached % 128 == 0 and 1024 <= cached <= usage["prompt_tokens"]
