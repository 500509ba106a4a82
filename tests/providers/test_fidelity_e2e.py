"""Provider fidelity end to end: prompt caching and reasoning through a real gateway.

The official ``openai`` and ``anthropic`` SDKs talk to a gateway on loopback whose
deployments point at the mock upstream speaking Anthropic, Bedrock (SigV4, binary
event stream), Gemini and OpenAI. The mocks cache prompt prefixes and think the
way the real APIs do, and check what comes back: a thinking block with a wrong or
missing signature is refused upstream, so a multi-turn tool call with thinking only
passes when the gateway carried the signatures both ways.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import orjson
import pytest

from switchyard.mock import MockUpstreamThread, wire
from switchyard.server.runner import GatewayThread

BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ANTHROPIC_WEATHER = {"name": "get_weather", "description": "Weather now",
                     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
EPHEMERAL = {"type": "ephemeral"}


@pytest.fixture(scope="module")
def mock():
    with MockUpstreamThread(stream_chunks=3) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock):
    bedrock = {"provider": "bedrock", "model": BEDROCK_MODEL, "base_url": mock.url,
               "options": {"aws_access_key_id": "AKIAMOCK", "aws_secret_access_key": "secret", "aws_region": "us-east-1"}}
    config = {"models": {
        "claude": {"deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": mock.url,
                                    "api_key": "k"}]},
        "claude-bedrock": {"deployments": [bedrock]},
        "gemini": {"deployments": [{"provider": "gemini", "model": "gemini-2.5-flash", "base_url": mock.url + "/v1beta",
                                    "api_key": "k"}]},
        "gpt": {"deployments": [{"provider": "openai", "model": "gpt-5", "base_url": mock.base_url, "api_key": "k"}]},
    }}
    thread = GatewayThread(config).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def oai(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)


def _long(tag: str) -> str:
    """A prompt long enough to cache (over 1024 tokens), unique to its test."""
    return f"[{tag}] " + "Reference material on the gateway's wire formats. " * 110


def _upstream(mock: MockUpstreamThread) -> dict[str, Any]:
    body: dict[str, Any] = mock.mock.requests[-1].json()
    return body


def _details(usage: Any, name: str) -> dict[str, Any]:
    details = getattr(usage, name)
    return {} if details is None else details.model_dump(exclude_none=True)


def _collect(stream: Any) -> dict[str, Any]:
    """An OpenAI SDK stream folded into one answer, extension fields included."""
    out: dict[str, Any] = {"content": "", "reasoning": "", "thinking_blocks": [], "tool_calls": {}, "usage": None}
    for chunk in stream:
        if chunk.usage is not None:
            out["usage"] = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            extra = delta.model_extra or {}
            out["content"] += delta.content or ""
            out["reasoning"] += extra.get("reasoning_content") or ""
            out["thinking_blocks"] += extra.get("thinking_blocks") or []
            for call in delta.tool_calls or ():
                entry = out["tool_calls"].setdefault(call.index, {"id": "", "name": "", "arguments": "", "extra": {}})
                entry["id"] = call.id or entry["id"]
                entry["name"] += (call.function.name or "") if call.function else ""
                entry["arguments"] += (call.function.arguments or "") if call.function else ""
                entry["extra"].update(call.model_extra or {})
    return out


def _answer(oai: openai.OpenAI, stream: bool, **request: Any) -> dict[str, Any]:
    """One chat call, streamed or not, as ``_collect`` shapes it."""
    if stream:
        return _collect(oai.chat.completions.create(stream=True, stream_options={"include_usage": True}, **request))
    reply = oai.chat.completions.create(**request)
    message = reply.choices[0].message
    extra = message.model_extra or {}
    calls = {i: {"id": c.id, "name": c.function.name, "arguments": c.function.arguments, "extra": c.model_extra or {}}
             for i, c in enumerate(message.tool_calls or ())}
    return {"content": message.content or "", "reasoning": extra.get("reasoning_content") or "",
            "thinking_blocks": extra.get("thinking_blocks") or [], "tool_calls": calls, "usage": reply.usage}


# ---- prompt caching, OpenAI clients ------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("alias", ["claude", "claude-bedrock"])
def test_cache_marks_reach_claude_and_cache_usage_comes_back(oai, mock, alias, stream):
    system = [{"type": "text", "text": _long(f"cache-{alias}-{stream}"), "cache_control": EPHEMERAL}]
    request = {"model": alias, "max_tokens": 50, "tools": [{**WEATHER, "cache_control": EPHEMERAL}],
               "messages": [{"role": "system", "content": system}, {"role": "user", "content": "hello cache"}]}
    first = _answer(oai, stream, **request)
    sent = _upstream(mock)
    if alias == "claude":
        assert sent["system"][0]["cache_control"] == EPHEMERAL and sent["tools"][0]["cache_control"] == EPHEMERAL
    else:
        assert sent["system"][1] == {"cachePoint": {"type": "default"}}
        assert sent["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}
    written = _details(first["usage"], "prompt_tokens_details")
    assert written["cached_tokens"] == 0 and written["cache_write_tokens"] > 1024
    second = _answer(oai, stream, **request)
    read = _details(second["usage"], "prompt_tokens_details")
    assert read == {"cached_tokens": written["cache_write_tokens"], "cache_write_tokens": 0}
    # OpenAI counts cache reads and writes inside prompt_tokens: the same prompt, the same count
    assert second["usage"].prompt_tokens == first["usage"].prompt_tokens > written["cache_write_tokens"]
    assert second["content"] == "hello cache"


def test_gemini_implicit_cache_hits_are_cached_tokens(oai, mock):
    request = {"model": "gemini", "messages": [{"role": "system", "content": _long("gemini-implicit")},
                                               {"role": "user", "content": "hello gemini"}]}
    first = _answer(oai, False, **request)
    assert _details(first["usage"], "prompt_tokens_details") == {"cached_tokens": 0}
    second = _answer(oai, True, **request)
    cached = _details(second["usage"], "prompt_tokens_details")["cached_tokens"]
    assert 1024 < cached < second["usage"].prompt_tokens == first["usage"].prompt_tokens


# ---- reasoning, OpenAI clients -------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("alias", ["claude", "claude-bedrock", "gemini"])
def test_reasoning_effort_thinks_and_the_thinking_comes_back(oai, mock, alias, stream):
    answer = _answer(oai, stream, model=alias, reasoning_effort="low", messages=[{"role": "user", "content": "ponder this"}])
    thought = wire.thought("ponder this")
    assert answer["content"] == "ponder this" and answer["reasoning"] == thought
    sent = _upstream(mock)
    usage = answer["usage"]
    if alias == "gemini":
        assert sent["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
        assert usage.completion_tokens_details.reasoning_tokens == wire.count_tokens(thought)
        assert answer["thinking_blocks"] == []
        return
    thinking = sent["thinking"] if alias == "claude" else sent["additionalModelRequestFields"]["thinking"]
    assert thinking == {"type": "enabled", "budget_tokens": 1024}
    assert answer["thinking_blocks"] == [{"type": "thinking", "thinking": thought, "signature": wire.signature(thought)}]
    # Claude's thinking is inside output_tokens and it reports no reasoning count: none is made up
    assert usage.completion_tokens == wire.count_tokens(thought) + wire.count_tokens("ponder this")
    assert usage.completion_tokens_details is None


def test_openai_reasoning_tokens_pass_through(oai):
    reply = oai.chat.completions.create(model="gpt", reasoning_effort="high", messages=[{"role": "user", "content": "why"}])
    assert reply.usage.completion_tokens_details.reasoning_tokens == wire.count_tokens(wire.thought("why")) > 0
    assert reply.usage.prompt_tokens_details.cached_tokens == 0


def _first_turn(oai: openai.OpenAI, alias: str, stream: bool, messages: list[dict[str, Any]]) -> dict[str, Any]:
    answer = _answer(oai, stream, model=alias, reasoning_effort="low", tools=[WEATHER], messages=messages)
    assert [c["name"] for c in answer["tool_calls"].values()] == ["get_weather"]
    return answer


def _assistant_turn(answer: dict[str, Any], keep_signatures: bool) -> dict[str, Any]:
    calls = []
    for call in answer["tool_calls"].values():
        entry = {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
        if keep_signatures and call["extra"].get("extra_content"):
            entry["extra_content"] = call["extra"]["extra_content"]
        calls.append(entry)
    message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": calls}
    if keep_signatures and answer["thinking_blocks"]:
        message["thinking_blocks"] = answer["thinking_blocks"]
    return message


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("alias", ["claude", "claude-bedrock", "gemini"])
def test_tool_use_with_thinking_round_trips_its_signatures(oai, alias, stream):
    question = [{"role": "user", "content": "call get_weather for Paris"}]
    first = _first_turn(oai, alias, stream, question)
    if alias == "gemini":
        assert first["tool_calls"][0]["extra"]["extra_content"]["google"]["thought_signature"]
    else:
        assert first["thinking_blocks"][0]["signature"]
    call_id = first["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": call_id, "content": "18°C and sunny"}
    second = _answer(oai, stream, model=alias, reasoning_effort="low", tools=[WEATHER],
                     messages=[*question, _assistant_turn(first, keep_signatures=True), result,
                               {"role": "user", "content": "thanks"}])
    assert second["content"] == "thanks"
    # the control: the same turn without its signatures is refused upstream, as the real APIs refuse it
    with pytest.raises(openai.BadRequestError) as info:
        _answer(oai, stream, model=alias, reasoning_effort="low", tools=[WEATHER],
                messages=[*question, _assistant_turn(first, keep_signatures=False), result])
    assert "thought_signature" in str(info.value) or "Expected `thinking`" in str(info.value)


# ---- the Anthropic front door --------------------------------------------------------------------

def _stream_message(claude: anthropic.Anthropic, **request: Any) -> Any:
    with claude.messages.stream(**request) as stream:
        return stream.get_final_message()


def _create(claude: anthropic.Anthropic, stream: bool, **request: Any) -> Any:
    return _stream_message(claude, **request) if stream else claude.messages.create(**request)


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("alias", ["claude", "claude-bedrock"])
def test_anthropic_client_thinking_and_tool_use_round_trip(claude, mock, alias, stream):
    thinking = {"type": "enabled", "budget_tokens": 2000}
    question = [{"role": "user", "content": "call get_weather for Rome"}]
    first = _create(claude, stream, model=alias, max_tokens=4000, thinking=thinking, tools=[ANTHROPIC_WEATHER],
                    messages=question)
    sent = _upstream(mock)
    # native to Anthropic; the exact budget (not an effort bucket) to Claude on Bedrock
    assert (sent["thinking"] if alias == "claude" else sent["additionalModelRequestFields"]["thinking"]) == thinking
    thought = wire.thought("call get_weather for Rome")
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].thinking == thought and first.content[0].signature == wire.signature(thought)
    reply = [b.model_dump(exclude_none=True) for b in first.content]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.content[1].id, "content": "21°C"},
                                          {"type": "text", "text": "thanks"}]}
    second = _create(claude, stream, model=alias, max_tokens=4000, thinking=thinking, tools=[ANTHROPIC_WEATHER],
                     messages=[*question, {"role": "assistant", "content": reply}, result])
    assert [b.type for b in second.content] == ["thinking", "text"] and second.content[1].text == "thanks"
    with pytest.raises(anthropic.BadRequestError):  # without its thinking the turn is refused upstream
        _create(claude, stream, model=alias, max_tokens=4000, thinking=thinking, tools=[ANTHROPIC_WEATHER],
                messages=[*question, {"role": "assistant", "content": reply[1:]}, result])


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_anthropic_client_cache_usage_through_bedrock(claude, mock, stream):
    system = [{"type": "text", "text": _long(f"front-bedrock-{stream}"), "cache_control": EPHEMERAL}]
    request = {"model": "claude-bedrock", "max_tokens": 100, "system": system,
               "messages": [{"role": "user", "content": "hello front door"}]}
    first = _create(claude, stream, **request)
    assert _upstream(mock)["system"][1] == {"cachePoint": {"type": "default"}}
    written = first.usage.cache_creation_input_tokens
    assert written > 1024 and first.usage.cache_read_input_tokens == 0
    second = _create(claude, stream, **request)
    assert (second.usage.cache_read_input_tokens, second.usage.cache_creation_input_tokens) == (written, 0)
    # Anthropic's input_tokens leaves the cache out, on the way back too
    assert second.usage.input_tokens == first.usage.input_tokens < written


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_anthropic_client_to_an_openai_model(claude, mock, stream):
    system = [{"type": "text", "text": _long(f"front-openai-{stream}"), "cache_control": EPHEMERAL}]
    thinking_turn = {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "earlier", "signature": "sig"}, {"type": "text", "text": "earlier answer"}]}
    request = {"model": "gpt", "max_tokens": 5000, "system": system, "thinking": {"type": "enabled", "budget_tokens": 4096},
               "messages": [{"role": "user", "content": "first"}, thinking_turn, {"role": "user", "content": "hello gpt"}]}
    first = _create(claude, stream, **request)
    sent = _upstream(mock)
    assert sent["reasoning_effort"] == "medium"
    assert b"cache_control" not in orjson.dumps(sent) and b"thinking_blocks" not in orjson.dumps(sent)
    assert first.content[-1].text == "hello gpt"
    second = _create(claude, stream, **request)
    # OpenAI's automatic cache hit, as Anthropic reports a cache read (outside input_tokens)
    assert second.usage.cache_read_input_tokens > 1024
    assert second.usage.input_tokens + second.usage.cache_read_input_tokens == first.usage.input_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_anthropic_client_gets_gemini_thoughts_as_thinking(claude, mock, stream):
    message = _create(claude, stream, model="gemini", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1500},
                      messages=[{"role": "user", "content": "think, gemini"}])
    assert _upstream(mock)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1500, "includeThoughts": True}
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == wire.thought("think, gemini") and message.content[0].signature == ""
