"""End to end: the official openai SDK's Responses API -> gateway -> (fake | OpenAI mock | Anthropic mock).

``client.responses.create`` and ``client.responses.stream`` over the chat pipeline; stored
responses chained by ``previous_response_id`` (over an Anthropic upstream), read back,
listed, deleted, and kept apart per tenant; bad input named field by field.
"""

from __future__ import annotations

import uuid

import openai
import orjson
import pytest
from pydantic import BaseModel

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread
from tests.server.raw_http import request as raw_request

ACME, ACME_TOO, OTHER, LIMITED = "sk-acme-1", "sk-acme-2", "sk-other", "sk-limited"
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def mock():
    with MockUpstreamThread(api_key="sk-upstream", stream_chunks=4) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock):
    config = {
        "auth": {"keys": [
            {"key": ACME, "name": "acme-1", "tenant": "acme"},
            {"key": ACME_TOO, "name": "acme-2", "tenant": "acme"},
            {"key": OTHER, "name": "other", "tenant": "other"},
            {"key": LIMITED, "name": "limited", "tenant": "acme", "models": ["fake/echo"]},
        ]},
        "models": {
            "claude": {"deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": mock.url,
                                        "api_key": "sk-upstream"}]},
            "gpt": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", "base_url": mock.base_url,
                                     "api_key": "sk-upstream"}]},
            "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
            "cached": {"cache": {}, "deployments": [{"provider": "fake", "model": "echo"}]},
        },
    }
    with GatewayThread(config) as running:
        yield running


def _client(gateway: GatewayThread, key: str = ACME) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


@pytest.fixture(scope="module")
def client(gateway):
    return _client(gateway)


def _tag() -> str:
    return "tag-" + uuid.uuid4().hex[:10]


def received(mock: MockUpstreamThread, tag: str) -> dict:
    """The JSON body the upstream received for the last request carrying ``tag``."""
    for request in reversed(list(mock.mock.requests)):  # type: ignore[union-attr]
        if tag.encode() in request.body:
            return orjson.loads(request.body)
    raise AssertionError(f"the upstream never received {tag}")


def test_string_input(client):
    response = client.responses.create(model="fake/echo", input="hello responses")
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed"
    assert response.output_text == "hello responses"
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.usage.input_tokens == 2 and response.usage.output_tokens == 2
    assert response.usage.total_tokens == 4


def test_items_instructions_and_an_image_reach_the_upstream_as_chat(client, mock):
    tag = _tag()
    response = client.responses.create(
        model="gpt", instructions="Be brief.", max_output_tokens=64, temperature=0.5,
        input=[{"role": "user", "content": [{"type": "input_text", "text": f"what is this {tag}"},
                                            {"type": "input_image", "image_url": PIXEL, "detail": "low"}]}])
    assert response.status == "completed" and tag in response.output_text
    sent = received(mock, tag)
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][1]["content"] == [{"type": "text", "text": f"what is this {tag}"},
                                              {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}}]
    assert sent["max_completion_tokens"] == 64 and sent["temperature"] == 0.5
    assert response.max_output_tokens == 64 and response.instructions == "Be brief."


def test_json_schema_and_reasoning_effort(client, mock):
    tag = _tag()
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    response = client.responses.create(
        model="gpt", input=f"answer in json {tag}", reasoning={"effort": "low"},
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}})
    sent = received(mock, tag)
    assert sent["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    assert sent["reasoning_effort"] == "low"
    assert response.text.format.type == "json_schema"


def test_parse_with_a_pydantic_model(gateway):
    class Answer(BaseModel):
        answer: str

    mock_text = MockUpstreamThread(text='{"answer": "forty-two"}').start()
    try:
        config = {"models": {"gpt": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                     "base_url": mock_text.base_url, "api_key": "k"}]}}}
        with GatewayThread(config) as local:
            parsed = _client(local).responses.parse(model="gpt", input="the answer?", text_format=Answer)
        assert parsed.output_parsed == Answer(answer="forty-two")
    finally:
        mock_text.stop()


def test_a_function_call_round_trip_over_anthropic(client, mock):
    tag = _tag()
    first = client.responses.create(model="claude", input=f"call get_weather {tag}", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert isinstance(orjson.loads(calls[0].arguments)["city"], str)
    second = client.responses.create(
        model="claude", previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"}])
    assert second.status == "completed" and second.previous_response_id == first.id
    sent = received(mock, "sunny, 21 C")
    turns = sent["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    tool_use = next(b for b in turns[1]["content"] if b["type"] == "tool_use")
    tool_result = next(b for b in turns[2]["content"] if b["type"] == "tool_result")
    assert tool_use["id"] == calls[0].call_id == tool_result["tool_use_id"]


def test_reasoning_with_tools_over_anthropic_hands_its_signed_thinking_back(client, mock):
    """Claude with thinking on refuses a tool round trip whose assistant turn lost its thinking:
    the reasoning item carries it, chained by previous_response_id or sent back as items."""
    settings = {"tools": [WEATHER], "reasoning": {"effort": "low"}, "max_output_tokens": 4000}
    first = client.responses.create(model="claude", input=f"call get_weather {_tag()}", **settings)
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    assert first.output[0].summary[0].text and first.output[0].encrypted_content
    call = first.output[1]
    answer = [{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    chained = client.responses.create(model="claude", previous_response_id=first.id, input=answer, **settings)
    assert chained.status == "completed"
    with client.responses.stream(model="claude", input=f"call get_weather {_tag()}", store=False, **settings) as stream:
        kinds = [e.type for e in stream]
        streamed = stream.get_final_response()
    assert kinds[2:4] == ["response.output_item.added", "response.output_item.done"]  # the reasoning item, whole
    assert [item.type for item in streamed.output] == ["reasoning", "function_call"]
    tag = _tag()
    sent_back = client.responses.create(model="claude", store=False, **settings, input=[
        {"role": "user", "content": f"call get_weather {tag}"},
        *[item.model_dump(exclude_none=True) for item in streamed.output],
        {"type": "function_call_output", "call_id": streamed.output[1].call_id, "output": "rain"}])
    assert sent_back.status == "completed"
    assistant = received(mock, tag)["messages"][1]
    assert assistant["content"][0]["type"] == "thinking" and assistant["content"][0]["signature"]


def test_function_call_items_sent_back_by_the_client(client, mock):
    tag = _tag()
    client.responses.create(model="gpt", store=False, tools=[WEATHER], input=[
        {"role": "user", "content": f"weather? {tag}"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "rain"},
    ], tool_choice="auto")
    messages = received(mock, tag)["messages"]
    assert messages[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "rain"}


def test_stream_events_in_order(client):
    with client.responses.stream(model="fake/echo", input="one two three") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", *["response.output_text.delta"] * 3,
                     "response.output_text.done", "response.content_part.done", "response.output_item.done",
                     "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text == "one two three"
    assert final.status == "completed" and final.usage.output_tokens == 3
    assert events[-1].response.id == events[0].response.id == final.id


def test_a_stream_that_breaks_ends_with_error_and_response_failed(client):
    with client.responses.stream(model="fake/break", input="one two three four five six") as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["error", "response.failed"], kinds
    assert events[-2].code == "upstream_bad_response"
    assert events[-1].response.status == "failed" and events[-1].response.error.code == "upstream_bad_response"
    assert "response.output_text.delta" in kinds and "response.completed" not in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_stream_of_a_tool_call_over_anthropic(client):
    with client.responses.stream(model="claude", input=f"call get_weather {_tag()}", tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    call = next(item for item in final.output if item.type == "function_call")
    assert done.arguments == call.arguments and orjson.loads(call.arguments)
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert deltas == call.arguments
    assert kinds.index("response.function_call_arguments.done") < kinds.index("response.completed")
    assert final.usage is not None and final.usage.output_tokens > 0


def test_a_multi_turn_conversation_by_previous_response_id_over_anthropic(client, mock):
    tag = _tag()
    first = client.responses.create(model="claude", instructions="You are terse.", input=f"my name is Ada {tag}")
    second = client.responses.create(model="claude", previous_response_id=first.id, input=f"and I like maths {tag}")
    with client.responses.stream(model="claude", previous_response_id=second.id,
                                 input=f"what do you know? {tag}") as stream:
        third = stream.get_final_response()
    assert third.output_text == f"what do you know? {tag}"
    sent = received(mock, f"what do you know? {tag}")
    assert "system" not in sent  # instructions are not carried over, as OpenAI does
    texts = [t["content"] if isinstance(t["content"], str) else t["content"][0]["text"] for t in sent["messages"]]
    assert texts == [f"my name is Ada {tag}", first.output_text, f"and I like maths {tag}", second.output_text,
                     f"what do you know? {tag}"]
    assert [t["role"] for t in sent["messages"]] == ["user", "assistant", "user", "assistant", "user"]


def test_retrieve_input_items_and_delete(client):
    response = client.responses.create(model="fake/echo", input=[
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "second"}])
    assert client.responses.retrieve(response.id).output_text == "second"
    items = client.responses.input_items.list(response.id)
    assert [i.content[0].text for i in items.data] == ["second", "noted", "first"]  # newest first, as OpenAI
    ascending = client.responses.input_items.list(response.id, order="asc", limit=2)
    assert [i.content[0].text for i in ascending.data] == ["first", "noted"] and ascending.has_more
    rest = client.responses.input_items.list(response.id, order="asc", after=ascending.last_id)
    assert [i.content[0].text for i in rest.data] == ["second"] and not rest.has_more
    deleted = client.responses.with_raw_response.delete(response.id)
    assert orjson.loads(deleted.content) == {"id": response.id, "object": "response", "deleted": True}
    for read in (lambda: client.responses.retrieve(response.id),
                 lambda: client.responses.input_items.list(response.id),
                 lambda: client.responses.create(model="fake/echo", input="x", previous_response_id=response.id)):
        with pytest.raises(openai.NotFoundError) as caught:
            read()
        assert caught.value.body["code"] == "response_not_found"


def test_store_false_keeps_nothing(client):
    response = client.responses.create(model="fake/echo", input="ephemeral", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_stored_responses_are_the_tenants_own(gateway):
    acme, acme_too, other = _client(gateway, ACME), _client(gateway, ACME_TOO), _client(gateway, OTHER)
    response = acme.responses.create(model="fake/echo", input="acme's secret")
    assert acme_too.responses.retrieve(response.id).output_text == "acme's secret"  # same tenant
    for attempt in (lambda: other.responses.retrieve(response.id),
                    lambda: other.responses.input_items.list(response.id),
                    lambda: other.responses.delete(response.id),
                    lambda: other.responses.create(model="fake/echo", input="x", previous_response_id=response.id)):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert acme.responses.retrieve(response.id).id == response.id  # the other tenant's delete did nothing


def test_the_gateways_policies_apply(gateway):
    limited = _client(gateway, LIMITED)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        limited.responses.create(model="gpt", input="not mine")
    assert caught.value.body["code"] == "model_not_allowed"
    with pytest.raises(openai.AuthenticationError):
        _client(gateway, "sk-wrong").responses.create(model="fake/echo", input="x")
    raw = limited.responses.with_raw_response.create(model="fake/echo", input="routed")
    assert raw.headers["x-switchyard-deployment"] == "fake/echo#0"


def test_the_response_cache_serves_a_repeated_request(client):
    tag = _tag()
    first = client.responses.with_raw_response.create(model="cached", input=f"same {tag}", temperature=0)
    again = client.responses.with_raw_response.create(model="cached", input=f"same {tag}", temperature=0)
    assert (first.headers["x-switchyard-cache"], again.headers["x-switchyard-cache"]) == ("miss", "hit")
    one, two = first.parse(), again.parse()
    assert one.output_text == two.output_text == f"same {tag}" and one.id != two.id
    assert client.responses.retrieve(two.id).output_text == f"same {tag}"  # a hit is stored as its own response


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "fake/echo"}, "input"),
    ({"model": "fake/echo", "input": "x", "temperature": 5}, "temperature"),
    ({"model": "fake/echo", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "fake/echo", "input": "x", "text": {"format": {"type": "json_schema", "name": "a"}}},
     "text.format.schema"),
    ({"model": "fake/echo", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"model": "fake/echo", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "fake/echo", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "fake/echo", "input": "x", "tool_choice": {"type": "function"}}, "tool_choice.name"),
    ({"model": "fake/echo", "input": "x", "background": True}, "background"),
])
def test_bad_input_is_a_400_naming_the_field(gateway, body, param):
    answer = raw_request(gateway.url, "POST", "/v1/responses", orjson.dumps(body),
                         {"authorization": f"Bearer {ACME}", "content-type": "application/json"})
    error = orjson.loads(answer.body)["error"]
    assert answer.status == 400 and error["param"] == param, error


def test_bad_input_items_query(client, gateway):
    response = client.responses.create(model="fake/echo", input="x")
    answer = raw_request(gateway.url, "GET", f"/v1/responses/{response.id}/input_items?limit=1000",
                         headers={"authorization": f"Bearer {ACME}"})
    assert answer.status == 400 and orjson.loads(answer.body)["error"]["param"] == "limit"


def test_stored_responses_outlive_the_gateway_in_a_sqlite_file(tmp_path):
    """A SQLite ``storage.url`` (migrated on first use, auth off): a restarted gateway still chains."""
    config = {"storage": {"url": f"sqlite:///{tmp_path / 'gateway.db'}"},
              "models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}}}
    with GatewayThread(config) as first_run:
        first = _client(first_run).responses.create(model="fake/echo", input="kept on disk")
    with GatewayThread(config) as second_run:
        client = _client(second_run)
        assert client.responses.retrieve(first.id).output_text == "kept on disk"
        second = client.responses.create(model="fake/echo", previous_response_id=first.id, input="still there?")
        assert [i.content[0].text for i in client.responses.input_items.list(second.id)] == ["still there?"]


def test_a_postgresql_store_behind_its_migrations_is_named(postgres_url):
    config = {"storage": {"url": postgres_url}, "models": {"echo": {"deployments": [{"provider": "fake",
                                                                                    "model": "echo"}]}}}
    with GatewayThread(config) as gateway:
        client = _client(gateway)
        with pytest.raises(openai.InternalServerError) as caught:
            client.responses.create(model="echo", input="x")
        assert client.responses.create(model="echo", input="x", store=False).output_text == "x"  # needs no table
    assert caught.value.status_code == 503 and "switchyard db upgrade" in caught.value.body["message"]
