"""Response validation end to end: a gateway on loopback, mock upstreams, the openai SDK."""

import json

import openai
import pytest

from tests.observe.metrics_helpers import scrape
from tests.routing.helpers import client

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "count", "schema": SCHEMA}}
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}}, "required": ["city"]}}}


@pytest.fixture
def upstreams(start_mock):
    # `prose` answers every request with the same text; `echo` says back the last user message.
    return {"prose": start_mock(text="Here is your JSON: {n: 3}"), "echo": start_mock()}


def gateway_for(start_gateway, openai_deployment, upstreams, order, **validation):
    return start_gateway({
        "metrics": {"enabled": True},
        "models": {
            "extract": {"strategy": "round_robin", "validation": {"retries": 1, **validation},
                        "deployments": [openai_deployment(upstreams[name], id=name) for name in order]},
            "loose": {"deployments": [openai_deployment(upstreams["prose"], id="loose")]},
        },
    })


def test_an_invalid_answer_is_asked_again_then_the_next_deployment_serves(start_gateway, openai_deployment, upstreams):
    gateway = gateway_for(start_gateway, openai_deployment, upstreams, ["prose", "echo"])
    sdk = client(gateway)
    raw = sdk.chat.completions.with_raw_response.create(
        model="extract", messages=[{"role": "user", "content": '{"n": 3}'}], response_format=JSON_SCHEMA)
    assert raw.headers["x-switchyard-deployment"] == "echo"
    assert json.loads(raw.parse().choices[0].message.content) == {"n": 3}
    assert upstreams["prose"].count("/v1/chat/completions") == 2  # the first try and one more
    figures = scrape(gateway.url)
    assert figures.value("switchyard_answer_validations_total", deployment="prose", result="json") == 2
    assert figures.value("switchyard_answer_validations_total", deployment="echo", result="valid") == 1


def test_when_no_deployment_answers_validly_the_client_gets_a_clear_error(start_gateway, openai_deployment, upstreams):
    gateway = gateway_for(start_gateway, openai_deployment, upstreams, ["echo"])
    sdk = client(gateway)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="extract", messages=[{"role": "user", "content": '{"n": "three"}'}],
                                    response_format=JSON_SCHEMA)
    assert caught.value.status_code == 502
    error = caught.value.body
    reasons = [a["reason"] for a in error["attempts"]]
    assert len(reasons) == 2 and all("does not match the json_schema `count`: at /n" in r for r in reasons)
    assert upstreams["echo"].count("/v1/chat/completions") == 2
    # the same answer from an alias without validation: passed on as the upstream gave it
    loose = sdk.chat.completions.create(model="loose", messages=[{"role": "user", "content": "x"}],
                                        response_format=JSON_SCHEMA)
    assert loose.choices[0].message.content.startswith("Here is your JSON")


def test_json_object_and_plain_requests(start_gateway, openai_deployment, upstreams):
    gateway = gateway_for(start_gateway, openai_deployment, upstreams, ["prose"], retries=0)
    sdk = client(gateway)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="extract", messages=[{"role": "user", "content": "x"}],
                                    response_format={"type": "json_object"})
    assert caught.value.body["code"] == "invalid_response"
    assert "the content is not JSON" in caught.value.body["message"]
    # nothing asked of the answer's shape: nothing checked
    plain = sdk.chat.completions.create(model="extract", messages=[{"role": "user", "content": "x"}])
    assert plain.choices[0].message.content.startswith("Here is your JSON")
    assert upstreams["prose"].count("/v1/chat/completions") == 2


def test_tool_call_arguments_are_checked_against_the_tool(start_gateway, openai_deployment, upstreams):
    gateway = gateway_for(start_gateway, openai_deployment, upstreams, ["echo"], retries=0)
    sdk = client(gateway)
    good = sdk.chat.completions.create(model="extract", tools=[WEATHER],
                                       messages=[{"role": "user", "content": "call weather city=Rome"}])
    assert json.loads(good.choices[0].message.tool_calls[0].function.arguments) == {"city": "Rome"}
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="extract", tools=[WEATHER],
                                    messages=[{"role": "user", "content": "call weather city=Oslo"}])
    assert "tool call 0 (`weather`): the arguments do not match its parameters: at /city" in (
        caught.value.body["message"])


def test_a_stream_is_checked_at_its_end_with_an_error_event(start_gateway, openai_deployment, upstreams):
    gateway = gateway_for(start_gateway, openai_deployment, upstreams, ["echo"])
    sdk = client(gateway)
    valid = sdk.chat.completions.create(model="extract", stream=True, response_format=JSON_SCHEMA,
                                        messages=[{"role": "user", "content": '{"n": 7}'}])
    assert json.loads("".join(c.choices[0].delta.content or "" for c in valid if c.choices)) == {"n": 7}
    received = []
    with pytest.raises(openai.APIError, match="does not match the json_schema `count`"):
        for chunk in sdk.chat.completions.create(model="extract", stream=True, response_format=JSON_SCHEMA,
                                                 messages=[{"role": "user", "content": '{"n": "seven"}'}]):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received) == '{"n": "seven"}'  # what was sent stays sent; the error event closes it
    assert upstreams["echo"].count("/v1/chat/completions") == 2  # a stream is never asked again
    figures = scrape(gateway.url)
    assert figures.value("switchyard_answer_validations_total", deployment="echo", result="schema") == 1


def test_a_fallback_alias_takes_over_and_is_held_to_the_same_check(start_gateway, openai_deployment, upstreams):
    gateway = start_gateway({"models": {
        "extract": {"validation": {"retries": 0}, "fallbacks": ["backup", "second"],
                    "deployments": [openai_deployment(upstreams["prose"], id="primary")]},
        # no validation: of its own: still checked by extract's, so its prose is refused too
        "backup": {"deployments": [openai_deployment(upstreams["prose"], id="backup-1")]},
        "second": {"deployments": [openai_deployment(upstreams["echo"], id="second-1")]},
    }})
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="extract", messages=[{"role": "user", "content": '{"n": 1}'}], response_format=JSON_SCHEMA)
    assert raw.headers["x-switchyard-fallback"] == "second" and raw.headers["x-switchyard-deployment"] == "second-1"
    assert upstreams["prose"].count("/v1/chat/completions") == 2  # primary once, backup once
