"""The guard end to end: the official SDKs -> a gateway -> mock upstreams speaking each wire format.

What the upstream received is read back from the mock (its last requests); what the
client got, from the SDK. Every surface: chat (text, tool results, tool-call history),
streamed and not, tool calls, legacy completions, embeddings, the Anthropic Messages API
(natively to an Anthropic upstream, and translated), per-key and per-tenant policies,
blocking, the output guard, two requests at once, and what is counted and audited.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchyard.mock import MockUpstreamThread
from switchyard.mock.wire import split_text
from switchyard.server.runner import GatewayThread
from tests.governance.conftest import AdminClient
from tests.server.raw_http import request

MASTER, LAX, STRICT = "sk-master-guard", "sk-lax-guard", "sk-strict-guard"
VALUES = {"email": "bob@example.com", "credit_card": "4111 1111 1111 1111", "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
          "employee_id": "EMP-123456", "codenames": "bluebird"}
TEXT = ("Mail bob@example.com, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE, "
        "employee EMP-123456 on bluebird.")
SEND = {"type": "function", "function": {"name": "send_email", "parameters": {
    "type": "object", "properties": {"to": {"type": "string"}}, "required": ["to"]}}}
LEAK = "Reach alice@example.org or 4242 4242 4242 4242 today."


@pytest.fixture(scope="module")
def mock():
    with MockUpstreamThread(stream_chunks=40) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def leaky():
    """An upstream whose model writes personal data the client never sent."""
    with MockUpstreamThread(text=LEAK, stream_chunks=30) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock, leaky):
    def at(upstream: MockUpstreamThread, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
        return {"deployments": [{"provider": "openai", "model": model, "base_url": upstream.base_url,
                                 "api_key": "sk-up"}], **extra}

    config = {
        "auth": {"master_key": MASTER, "keys": [{"key": LAX, "name": "lax", "guard": "off"},
                                                {"key": STRICT, "name": "strict", "guard": "strict"}]},
        "metrics": {"enabled": True},
        "guard": {
            "default": "pii",
            "audit": True,
            "detectors": [{"name": "employee_id", "regex": "EMP-[0-9]{6}"}, {"name": "codenames", "deny": ["bluebird"]}],
            "policies": {
                "pii": {"action": "mask", "actions": {"private_key": "block"}},
                "strict": {"action": "block"},
                "watched": {"action": "mask", "output": {"action": "redact"}},
                "watched-block": {"action": "mask", "output": {"action": "block"}},
            },
        },
        "models": {
            "chat": at(mock),
            "cached": {"cache": {}, "deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                    "base_url": mock.base_url, "api_key": "sk-up",
                                                    "headers": {"x-mock-latency-ms": "300"}}]},
            "embed": at(mock, "text-embedding-3-small"),
            "claude": {"deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": mock.url,
                                        "api_key": "sk-up"}]},
            "plain": at(mock, guard="off"),
            "leaky": at(leaky, guard="watched"),
            "leaky-block": at(leaky, guard="watched-block"),
        },
    }
    with GatewayThread(config) as running:
        yield running


@pytest.fixture
def sdk(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=20)


def received(mock: MockUpstreamThread, path: str) -> dict[str, Any]:
    """The body of the last request the upstream got on ``path``."""
    last = next(r for r in reversed(list(mock.mock.requests)) if r.path == path)  # type: ignore[union-attr]
    return orjson.loads(last.body)


def assert_no_values(body: Any) -> None:
    sent = json.dumps(body)
    leaked = [name for name, value in VALUES.items() if value in sent]
    assert not leaked, f"reached the upstream: {leaked}"


def test_chat_never_sends_the_values_and_the_answer_has_them_back(sdk, mock):
    answer = sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": TEXT}])
    upstream = received(mock, "/v1/chat/completions")
    assert_no_values(upstream)
    assert upstream["messages"][0]["content"] == ("Mail [EMAIL_1], card [CREDIT_CARD_1], key [AWS_ACCESS_KEY_1], "
                                                  "employee [EMPLOYEE_ID_1] on [CODENAMES_1].")
    assert answer.choices[0].message.content == TEXT


def test_a_stream_restores_placeholders_the_upstream_split_across_chunks(sdk, mock):
    chunks = list(sdk.chat.completions.create(model="chat", stream=True, messages=[{"role": "user", "content": TEXT}]))
    masked = received(mock, "/v1/chat/completions")["messages"][0]["content"]
    pieces = split_text(masked, 40)  # how the upstream cut its answer
    start = masked.index("[CREDIT_CARD_1]")
    spanned = [p for i, p in enumerate(pieces)
               if len("".join(pieces[:i])) < start + 15 and len("".join(pieces[:i + 1])) > start]
    assert len(spanned) >= 3, spanned  # the placeholder reached the gateway in three chunks or more
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(deltas) == TEXT
    assert not any("[" in d for d in deltas)  # no piece of a placeholder ever reached the client


def test_tool_call_arguments_are_restored_unary_and_streamed(sdk, mock):
    messages = [{"role": "user", "content": "call send_email to=bob@example.com"}]
    answer = sdk.chat.completions.create(model="chat", messages=messages, tools=[SEND])
    assert_no_values(received(mock, "/v1/chat/completions"))
    call = answer.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"to": "bob@example.com"}
    streamed = sdk.chat.completions.create(model="chat", messages=messages, tools=[SEND], stream=True)
    arguments = "".join(tc.function.arguments or "" for c in streamed if c.choices
                        for tc in c.choices[0].delta.tool_calls or ())
    assert json.loads(arguments) == {"to": "bob@example.com"}


def test_tool_results_and_earlier_tool_calls_are_masked(sdk, mock):
    messages = [
        {"role": "system", "content": "You work for bluebird."},
        {"role": "user", "content": [{"type": "text", "text": "who is EMP-123456?"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "lookup", "arguments": '{"card": "4111 1111 1111 1111"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "owner bob@example.com, AKIAIOSFODNN7EXAMPLE"},
        {"role": "user", "content": "thanks"},
    ]
    sdk.chat.completions.create(model="chat", messages=messages)
    upstream = received(mock, "/v1/chat/completions")
    assert_no_values(upstream)
    assert upstream["messages"][3]["content"] == "owner [EMAIL_1], [AWS_ACCESS_KEY_1]"
    assert json.loads(upstream["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"card": "[CREDIT_CARD_1]"}
    assert messages[3]["content"] == "owner bob@example.com, AKIAIOSFODNN7EXAMPLE"  # the caller's objects untouched


def test_legacy_completions_are_masked_and_restored(sdk, mock):
    prompt = "Reply to bob@example.com about EMP-123456"
    answer = sdk.completions.create(model="chat", prompt=prompt)
    assert_no_values(received(mock, "/v1/completions"))
    assert prompt in answer.choices[0].text
    streamed = "".join(c.choices[0].text for c in sdk.completions.create(model="chat", prompt=prompt, stream=True)
                       if c.choices)
    assert prompt in streamed


def test_embeddings_input_is_masked(sdk, mock):
    answer = sdk.embeddings.create(model="embed", input=["bob@example.com wrote", "about EMP-123456"])
    assert received(mock, "/v1/embeddings")["input"] == ["[EMAIL_1] wrote", "about [EMPLOYEE_ID_1]"]
    assert len(answer.data) == 2


def test_the_anthropic_messages_api_to_an_anthropic_upstream(gateway, mock):
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0, timeout=20)
    kwargs: dict[str, Any] = {
        "model": "claude", "max_tokens": 200,
        "system": [{"type": "text", "text": "Account of bob@example.com"}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look up EMP-123456"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup",
                                               "input": {"card": "4111 1111 1111 1111"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "AKIAIOSFODNN7EXAMPLE"}]},
                {"type": "text", "text": "Write to bob@example.com about bluebird"}]},
        ],
    }
    message = client.messages.create(**kwargs)
    assert_no_values(received(mock, "/v1/messages"))
    assert message.content[0].text == "Write to bob@example.com about bluebird"
    with client.messages.stream(**kwargs) as stream:
        assert "".join(stream.text_stream) == "Write to bob@example.com about bluebird"


def test_the_anthropic_messages_api_translated_to_an_openai_upstream(gateway, mock):
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0, timeout=20)
    message = client.messages.create(model="chat", max_tokens=100, system="For bob@example.com",
                                     messages=[{"role": "user", "content": "card 4111 1111 1111 1111 please"}])
    assert_no_values(received(mock, "/v1/chat/completions"))
    assert message.content[0].text == "card 4111 1111 1111 1111 please"


def test_a_blocked_category_is_refused_naming_it_never_the_value(gateway, mock):
    before = mock.count("/v1/chat/completions")
    strict = openai.OpenAI(base_url=gateway.url + "/v1", api_key=STRICT, max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        strict.chat.completions.create(model="chat", messages=[{"role": "user", "content": "ok"},
                                                               {"role": "user", "content": TEXT}])
    error = refused.value.body
    assert error["code"] == "guard_blocked" and error["param"] == "messages.1.content"
    assert "email" in error["message"] and not any(v in json.dumps(error) for v in VALUES.values())
    assert mock.count("/v1/chat/completions") == before  # nothing was sent


def test_a_private_key_is_blocked_while_the_rest_is_masked(sdk):
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"mail bob@example.com {key}"}])
    assert "private key" in refused.value.body["message"] and "MIIE" not in str(refused.value.body)


def test_a_key_or_an_alias_may_turn_the_guard_off(gateway, mock):
    lax = openai.OpenAI(base_url=gateway.url + "/v1", api_key=LAX, max_retries=0)
    lax.chat.completions.create(model="chat", messages=[{"role": "user", "content": TEXT}])
    assert received(mock, "/v1/chat/completions")["messages"][0]["content"] == TEXT
    openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER).chat.completions.create(
        model="plain", messages=[{"role": "user", "content": TEXT}])
    assert received(mock, "/v1/chat/completions")["messages"][0]["content"] == TEXT


def test_virtual_keys_take_their_policy_from_their_tenant_team_or_own_metadata(gateway, mock):
    admin = AdminClient(gateway.url, MASTER)
    admin.ok("POST", "/admin/tenants", {"name": "careful", "metadata": {"guard": "strict"}})
    admin.ok("POST", "/admin/teams", {"name": "careful-ml", "tenant": "careful"})
    by_tenant = admin.ok("POST", "/admin/keys", {"team": "careful-ml"})["key"]
    own = admin.ok("POST", "/admin/keys", {"team": "careful-ml", "metadata": {"guard": "pii"}})["key"]
    with pytest.raises(openai.BadRequestError) as refused:
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=by_tenant, max_retries=0).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": TEXT}])
    assert refused.value.body["code"] == "guard_blocked"
    answer = openai.OpenAI(base_url=gateway.url + "/v1", api_key=own, max_retries=0).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": TEXT}])
    assert answer.choices[0].message.content == TEXT
    assert_no_values(received(mock, "/v1/chat/completions"))
    status, bad = admin.call("POST", "/admin/keys", {"team": "careful-ml", "metadata": {"regions": "eu west"}})
    assert status == 400 and "regions" in bad["error"]["message"]


async def test_two_requests_at_once_never_see_each_others_values(gateway, mock):
    mock.set_faults(chunk_delay_ms=5)  # the streams interleave chunk by chunk
    try:
        client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=30)

        async def ask(n: int) -> tuple[int, str]:
            text = f"user{n}@example.com, card 4111 1111 1111 1111 ({n})"
            stream = await client.chat.completions.create(model="chat", stream=True,
                                                          messages=[{"role": "user", "content": text}])
            return n, "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        answers = await asyncio.gather(*(ask(n) for n in range(12)))
    finally:
        mock.reset()
    for n, text in answers:
        assert text == f"user{n}@example.com, card 4111 1111 1111 1111 ({n})"  # its own [EMAIL_1], nobody else's


def test_the_output_guard_redacts_what_the_model_wrote(sdk):
    answer = sdk.chat.completions.create(model="leaky", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Reach [REDACTED_EMAIL] or [REDACTED_CREDIT_CARD] today."
    deltas = [c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
        model="leaky", stream=True, messages=[{"role": "user", "content": "hi"}]) if c.choices]
    assert "".join(deltas) == "Reach [REDACTED_EMAIL] or [REDACTED_CREDIT_CARD] today."
    assert not any("alice" in d or "4242" in d for d in deltas)


def test_the_output_guard_blocks_an_answer_or_ends_a_stream(gateway, sdk):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="leaky-block", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["code"] == "output_blocked" and "alice" not in refused.value.body["message"]
    body = orjson.dumps({"model": "leaky-block", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    streamed = request(gateway.url, "POST", "/v1/chat/completions", body,
                       {"authorization": f"Bearer {MASTER}", "content-type": "application/json"})
    events = [line[6:] for line in streamed.body.split(b"\n") if line.startswith(b"data: ")]
    assert orjson.loads(events[-1])["error"]["code"] == "output_blocked"
    assert b"alice" not in streamed.body and b"[DONE]" not in streamed.body


def _detections(gateway: GatewayThread) -> dict[tuple[str, ...], float]:
    text = request(gateway.url, "GET", "/metrics", headers={"authorization": f"Bearer {MASTER}"}).body.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "switchyard_guard_detections_total":
                labels = sample.labels
                out[(labels["alias"], labels["direction"], labels["category"], labels["action"])] = sample.value
    return out


def test_detections_are_counted_and_audited_without_values(gateway, sdk):
    before = _detections(gateway).get(("chat", "input", "email", "mask"), 0)
    sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": TEXT}])
    sdk.chat.completions.create(model="leaky", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=STRICT, max_retries=0).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": TEXT}])
    counted = _detections(gateway)
    assert counted[("chat", "input", "email", "mask")] == before + 1
    assert counted[("chat", "input", "codenames", "mask")] >= 1
    assert counted[("leaky", "output", "credit_card", "redact")] >= 1
    assert counted[("chat", "input", "aws_access_key", "block")] >= 1
    audit = AdminClient(gateway.url, MASTER).ok("GET", "/admin/audit?kind=guard&limit=500")["data"]
    masked = [e for e in audit if e["action"] == "guard.masked" and e["target"] == "chat"]
    assert masked and masked[-1]["detail"]["detections"]["input"]["email"] == {"mask": 1}
    blocked = [e for e in audit if e["action"] == "guard.blocked"]
    assert blocked[-1]["actor"] == "strict" and blocked[-1]["detail"]["detections"]["input"]["email"] == {"block": 1}
    assert any(e["detail"]["detections"].get("output") for e in audit if e["target"] == "leaky")
    dump = json.dumps(audit)
    assert not any(value in dump for value in VALUES.values())


async def test_requests_the_cache_shares_each_get_their_own_values(gateway, mock):
    """Different emails mask to the same request, so the response cache coalesces them into one
    upstream call (and serves it again later): each client still gets its own address back."""
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=30)
    before = mock.count("/v1/chat/completions")

    async def ask(n: int, stream: bool) -> str:
        messages = [{"role": "user", "content": f"Write to user{n}@example.com ({'s' if stream else 'u'})"}]
        if not stream:
            answer = await client.chat.completions.create(model="cached", temperature=0, messages=messages)
            return answer.choices[0].message.content or ""
        chunks = await client.chat.completions.create(model="cached", temperature=0, stream=True, messages=messages)
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    for stream in (False, True):
        tag = "s" if stream else "u"
        answers = await asyncio.gather(*(ask(n, stream) for n in range(4)))
        assert answers == [f"Write to user{n}@example.com ({tag})" for n in range(4)]
        assert await ask(9, stream) == f"Write to user9@example.com ({tag})"  # a cache hit, restored for its client
    assert mock.count("/v1/chat/completions") - before == 2  # one upstream call per mode: the rest were shared


def test_the_responses_api_goes_through_the_same_guard(sdk, mock):
    answer = sdk.responses.create(model="chat", input=f"Send {TEXT}", store=False)
    assert_no_values(received(mock, "/v1/chat/completions"))
    assert answer.output_text == f"Send {TEXT}"
    streamed = sdk.responses.create(model="chat", input=f"Send {TEXT}", store=False, stream=True)
    text = "".join(event.delta for event in streamed if event.type == "response.output_text.delta")
    assert text == f"Send {TEXT}"
