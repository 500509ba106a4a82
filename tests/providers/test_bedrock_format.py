"""Bedrock Converse transforms on fixture JSON: requests, answers, stream events, errors."""

from pathlib import Path

import orjson
import pytest

from switchyard.core.errors import InvalidRequest, SwitchyardError
from switchyard.core.messages import validate_chat
from switchyard.providers import bedrock_format as wire
from switchyard.providers.eventstream import EventMessage, EventStreamDecoder, encode_event, encode_exception

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"


def fixture(name):
    return orjson.loads((FIXTURES / name).read_bytes())


def request(**body):
    return validate_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}], **body})


def test_full_request_translates_to_the_documented_converse_shape():
    built = wire.build_converse(validate_chat(fixture("chat_request.json")))
    assert built == fixture("converse_request.json")
    assert set(built) <= wire.CONVERSE_KEYS


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"auto": {}}), ("required", {"any": {}}),
     ({"type": "function", "function": {"name": "f"}}, {"tool": {"name": "f"}})],
)
def test_tool_choice(choice, expected):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    built = wire.build_converse(request(tools=tools, tool_choice=choice))
    assert built["toolConfig"]["toolChoice"] == expected


def test_tool_choice_none_without_history_sends_no_tools():
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert "toolConfig" not in wire.build_converse(request(tools=tools, tool_choice="none"))


def test_json_schema_becomes_a_forced_tool_and_comes_back_as_content():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    built = wire.build_converse(request(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
    assert built["toolConfig"]["toolChoice"] == {"tool": {"name": wire.JSON_TOOL}}
    assert built["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": schema}
    answer = {"output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": wire.JSON_TOOL, "input": {"n": 3}}}]}},
              "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1}}
    parsed = wire.parse_converse(orjson.dumps(answer), "m").body["choices"][0]
    assert orjson.loads(parsed["message"]["content"]) == {"n": 3}
    assert "tool_calls" not in parsed["message"] and parsed["finish_reason"] == "stop"


def test_image_urls_must_be_base64_data():
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}
    with pytest.raises(InvalidRequest) as err:
        wire.build_converse(request(**body))
    assert err.value.param == "messages[0].content[0].image_url"


def test_jpeg_and_webp_formats():
    for mime, fmt in [("image/jpeg", "jpeg"), ("image/webp", "webp"), ("image/gif", "gif")]:
        assert wire.image_block(f"data:{mime};base64,AAAA", "x") == {"image": {"format": fmt, "source": {"bytes": "AAAA"}}}


def test_text_answer_with_cached_usage():
    response = wire.parse_converse((FIXTURES / "converse_text.json").read_bytes(), "claude", request_id="abc")
    body = response.body
    assert body["object"] == "chat.completion" and body["id"] == "chatcmpl-abc"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello there.", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 112, "completion_tokens": 4, "total_tokens": 116,
                             "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 0}}
    assert response.usage.cached_tokens == 100


def test_parallel_tool_use_answer():
    choice = wire.parse_converse((FIXTURES / "converse_tool_use.json").read_bytes(), "m").body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    calls = choice["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["tooluse_abc", "tooluse_def"]
    assert orjson.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize(("name", "finish"), [("converse_guardrail.json", "content_filter"), ("converse_max_tokens.json", "length")])
def test_stop_reasons(name, finish):
    assert wire.parse_converse((FIXTURES / name).read_bytes(), "m").body["choices"][0]["finish_reason"] == finish


def _events(raw):
    decoder = EventStreamDecoder()
    return decoder.feed(b"".join(encode_event(kind, orjson.dumps(payload)) for kind, payload in raw))


def test_stream_with_text_then_tool_use_and_usage():
    translator = wire.StreamTranslator("m", hide_usage=False)
    chunks = [c for m in _events(fixture("stream_tool_use.json")) if (c := translator.translate(m)) is not None]
    deltas = [c.data["choices"][0]["delta"] for c in chunks if c.data and c.data["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content") or "" for d in deltas) == "Checking"
    calls = [tc for d in deltas for tc in d.get("tool_calls", ())]
    assert calls[0]["id"] == "tooluse_abc" and calls[0]["function"]["name"] == "get_weather"
    assert {tc["index"] for tc in calls} == {0}
    assert orjson.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"city": "Paris"}
    finishes = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data and c.data["choices"]]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].data["choices"] == [] and chunks[-1].data["usage"]["prompt_tokens"] == 25
    assert translator.done and translator.usage.cached_tokens == 5


def test_stream_hides_usage_when_not_asked_but_keeps_it_for_accounting():
    translator = wire.StreamTranslator("m", hide_usage=True)
    chunks = [c for m in _events(fixture("stream_tool_use.json")) if (c := translator.translate(m)) is not None]
    assert chunks[-1].data is None and chunks[-1].raw is None and chunks[-1].usage.completion_tokens == 10


@pytest.mark.parametrize(
    ("kind", "status", "retryable"),
    [("throttlingException", 429, True), ("modelStreamErrorException", 502, True),
     ("internalServerException", 502, True), ("validationException", 400, False)],
)
def test_stream_exception_events_become_core_errors(kind, status, retryable):
    [message] = EventStreamDecoder().feed(encode_exception(kind, b'{"message":"boom"}'))
    with pytest.raises(SwitchyardError) as err:
        wire.StreamTranslator("m").translate(message)
    assert err.value.status == status and err.value.retryable is retryable
    assert "boom" in err.value.message


@pytest.mark.parametrize("case", fixture("errors.json"), ids=lambda c: c["type"] + str(c["status"]))
def test_error_bodies(case):
    headers = {"x-amzn-errortype": f"{case['type']}:http://internal.amazon.com/coral/com.amazon.bedrock/",
               "retry-after": "2"}
    err = wire.parse_error(case["status"], orjson.dumps(case["body"]), headers.get)
    assert err.status == case["expect_status"]
    assert err.retryable is case["retryable"]
    assert err.message.endswith(case["body"].get("message") or case["body"].get("Message"))  # auth errors prefix theirs
    if "expect_code" in case:
        assert err.code == case["expect_code"]
    if case["retryable"]:
        assert err.retry_after == 2


def test_unknown_event_types_are_ignored():
    assert wire.StreamTranslator("m").translate(EventMessage({":event-type": "somethingNew", ":message-type": "event"}, b"{}")) is None
