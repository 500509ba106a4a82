"""The Responses request's translation to chat, and the stream's events (no network)."""

from __future__ import annotations

import pytest

from switchyard.core.errors import InvalidRequest
from switchyard.core.messages import Usage, validate_chat
from switchyard.responses.answer import from_chat, shell
from switchyard.responses.events import ResponseEvents
from switchyard.responses.request import parse, to_chat_body


def test_items_become_chat_messages():
    request = parse({"model": "m", "instructions": "Be kind.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\": 1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
        {"type": "reasoning", "summary": []},
    ]})
    chat = to_chat_body(request, [])
    assert chat["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}]},
        {"role": "assistant", "content": "calling", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]
    validate_chat(chat)  # what the pipeline runs is a valid chat request
    assert [item["id"][:3] for item in request.items] == ["msg", "msg", "fc_", "fc_", "fco", "fco", "rs_"]


def test_settings_map_to_their_chat_fields():
    schema = {"type": "object", "properties": {}}
    request = parse({"model": "m", "input": "hi", "stream": True, "max_output_tokens": 50, "temperature": 0.2,
                     "reasoning": {"effort": "high"}, "tool_choice": {"type": "function", "name": "f"},
                     "tools": [{"type": "function", "name": "f", "parameters": schema}],
                     "text": {"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
                     "metadata": {"k": "v"}})
    chat = to_chat_body(request, [])
    assert chat["max_completion_tokens"] == 50 and chat["temperature"] == 0.2
    assert chat["reasoning_effort"] == "high" and chat["metadata"] == {"k": "v"}
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "out", "schema": schema, "strict": True}}
    assert request.store is True and parse({"model": "m", "input": "x", "store": False}).store is False


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].image_url"),
    ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation"),
    ({"model": "m", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"model": "m", "input": "x", "metadata": {"k": 1}}, "metadata"),
    ({"model": "m", "input": [{"type": "reasoning", "summary": [], "encrypted_content": "bm90IGpzb24"}]},
     "input[0].encrypted_content"),
])
def test_bad_input_names_the_field(body, param):
    with pytest.raises(InvalidRequest) as caught:
        to_chat_body(parse(body), [])
    assert caught.value.param == param


def test_a_cut_answer_is_incomplete():
    request = parse({"model": "m", "input": "x"})
    chat = {"choices": [{"message": {"role": "assistant", "content": "par"}, "finish_reason": "length"}]}
    response = from_chat(request, "resp_1", chat, Usage(3, 1))
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["usage"]["total_tokens"] == 4


def test_stream_events_for_text_then_two_tool_calls():
    events = ResponseEvents(shell(parse({"model": "m", "input": "x"}), "resp_1"))
    out = events.start()
    out += events.feed({"choices": [{"index": 0, "delta": {"content": "Let me check."}}]})
    for index, name in enumerate(("f", "g")):
        out += events.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "id": f"call_{name}", "function": {"name": name, "arguments": ""}}]}}]})
        out += events.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "function": {"arguments": '{"q": '}}]}}]})
        out += events.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "function": {"arguments": f'"{name}"}}'}}]}}]})
    out += events.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    out += events.finish(Usage(5, 7))
    kinds = [e["type"].removeprefix("response.") for e in out]
    assert kinds == ["created", "in_progress", "output_item.added", "content_part.added", "output_text.delta",
                     "output_text.done", "content_part.done", "output_item.done",
                     "output_item.added", "function_call_arguments.delta", "function_call_arguments.delta",
                     "function_call_arguments.done", "output_item.done",
                     "output_item.added", "function_call_arguments.delta", "function_call_arguments.delta",
                     "function_call_arguments.done", "output_item.done", "completed"]
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    final = out[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["message", "function_call", "function_call"]
    assert [e["output_index"] for e in out if e["type"] == "response.function_call_arguments.done"] == [1, 2]
    assert final["output"][2] == {**final["output"][2], "call_id": "call_g", "arguments": '{"q": "g"}',
                                  "status": "completed"}
    assert final["usage"]["output_tokens"] == 7 and final["status"] == "completed"
