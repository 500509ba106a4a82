"""What an answer must be, read from its request; the first way an answer is not (no network)."""

import orjson

from switchyard.core.config.validation import AliasValidation
from switchyard.validation.expectation import Schemas, expectation_of
from switchyard.validation.stream import Gathered

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}}, "required": ["city"]}}}


def answer(content=None, tool_calls=None, refusal=None, finish="stop"):
    message = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = [{"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                 for i, (n, a) in enumerate(tool_calls)]
    if refusal is not None:
        message["refusal"] = refusal
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def expect(body, **settings):
    return expectation_of(body, AliasValidation(**settings), Schemas())


def test_nothing_is_checked_without_json_or_tools():
    assert expect({"messages": []}) is None
    assert expect({"response_format": {"type": "text"}}) is None
    assert expect({"response_format": {"type": "json_object"}}, json=False) is None
    assert expect({"tools": [WEATHER]}, tools=False) is None


def test_json_object_must_parse_to_an_object():
    e = expect({"response_format": {"type": "json_object"}})
    assert e.problem(answer('{"a": 1}')) is None
    problem = e.problem(answer("Sure! {\"a\": 1}"))
    assert problem.kind == "json" and "choice 0: the content is not JSON" in problem.message
    assert e.problem(answer("[1, 2]")).message == "choice 0: the content is JSON but not an object"
    assert "cut short" in e.problem(answer('{"a": ', finish="length")).message
    assert e.problem(answer(None)).kind == "json"


def test_json_schema_is_matched_and_the_error_says_where():
    e = expect({"response_format": {"type": "json_schema", "json_schema": {"name": "count", "schema": SCHEMA}}})
    assert e.problem(answer('{"n": 3}')) is None
    problem = e.problem(answer('{"n": "three"}'))
    assert problem.kind == "schema"
    assert "`count`" in problem.message and "at /n" in problem.message and "integer" in problem.message
    assert e.problem(answer('{"n": 1, "extra": true}')).kind == "schema"
    # syntax only when asked
    loose = expect({"response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": SCHEMA}}},
                   schema=False)
    assert loose.problem(answer('{"n": "three"}')) is None
    assert loose.problem(answer("three")).kind == "json"


def test_a_refusal_is_an_answer():
    e = expect({"response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": SCHEMA}}})
    assert e.problem(answer(None, refusal="I can't help with that.")) is None


def test_tool_calls_name_a_tool_and_carry_matching_arguments():
    e = expect({"tools": [WEATHER]})
    assert e.problem(answer(None, [("weather", '{"city": "Rome"}')])) is None
    assert e.problem(answer("plain text is fine without response_format")) is None
    assert "no function tool of that name" in e.problem(answer(None, [("stocks", "{}")])).message
    assert "the arguments are not JSON" in e.problem(answer(None, [("weather", '{"city": ')])).message
    assert "not a JSON object" in e.problem(answer(None, [("weather", '"Rome"')])).message
    problem = e.problem(answer(None, [("weather", '{"city": "Rome"}'), ("weather", '{"city": "Oslo"}')]))
    assert problem.kind == "schema" and "tool call 1 (`weather`)" in problem.message and "/city" in problem.message


def test_a_schema_that_does_not_compile_is_not_held_against_the_answer():
    bad = {"type": "object", "properties": {"n": {"type": 12}}}
    e = expect({"response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": bad}}})
    assert e.schema is None
    assert e.problem(answer('{"n": 1}')) is None
    assert e.problem(answer("nope")).kind == "json"


def test_compiled_schemas_are_bounded_and_reused():
    schemas = Schemas(limit=2)
    first = schemas.compile(SCHEMA)
    assert schemas.compile(dict(reversed(list(SCHEMA.items())))) is first  # same schema, other key order
    for n in range(5):
        schemas.compile({"type": "object", "maxProperties": n})
    assert len(schemas._compiled) == 2
    assert schemas.compile("not a schema") is None


def test_a_stream_is_gathered_per_choice_and_bounded():
    gathered = Gathered(max_bytes=64)
    for piece in ('{"n"', ": ", "3}"):
        assert gathered.add({"choices": [{"index": 0, "delta": {"content": piece}}]})
    gathered.add({"choices": [{"index": 1, "delta": {"tool_calls": [
        {"index": 0, "function": {"name": "weather", "arguments": '{"ci'}}]}}]})
    gathered.add({"choices": [{"index": 1, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}, "finish_reason": "tool_calls"}]})
    body = gathered.body()
    assert orjson.loads(body["choices"][0]["message"]["content"]) == {"n": 3}
    assert body["choices"][1]["message"]["tool_calls"][0]["function"] == {"name": "weather",
                                                                           "arguments": '{"city": "Paris"}'}
    assert not gathered.add({"choices": [{"index": 0, "delta": {"content": "x" * 64}}]})
