"""End to end with the official ``openai`` SDK: gateway (real server) -> mock upstream.

One mock upstream and one gateway serve the whole module; each test tags its
prompt so it can find what the upstream received among the mock's recent requests.
"""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Iterator

import openai
import orjson
import pytest

from switchyard.mock import MockUpstreamThread
from switchyard.server.runner import GatewayThread
from tests.server.raw_http import request as raw_request

UPSTREAM_KEY = "sk-upstream-e2e"
MASTER = "sk-master-e2e"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstreamThread]:
    with MockUpstreamThread(api_key=UPSTREAM_KEY, stream_chunks=5) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(mock: MockUpstreamThread) -> Iterator[GatewayThread]:
    def openai_at(model: str) -> dict:
        return {"deployments": [{"provider": "openai", "model": model, "base_url": mock.base_url, "api_key": UPSTREAM_KEY}]}

    config = {
        "auth": {"master_key": MASTER},
        "models": {
            "gpt": openai_at("gpt-4o-mini"),
            "embed": openai_at("text-embedding-3-small"),
            "legacy": openai_at("gpt-3.5-turbo-instruct"),
            "azure-gpt": {"deployments": [{"provider": "azure", "model": "my-gpt-deployment", "base_url": mock.url,
                                           "api_key": UPSTREAM_KEY, "api_version": "2024-10-21"}]},
            "fake/*": {"deployments": [{"provider": "fake", "model": "*"}]},
        },
    }
    with GatewayThread(config) as running:
        yield running


@pytest.fixture
def client(gateway: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=20)


def _tag() -> str:
    return "tag-" + uuid.uuid4().hex[:10]


def received(mock: MockUpstreamThread, tag: str) -> dict:
    """The JSON body the upstream received for the request whose prompt carries ``tag``."""
    for request in reversed(list(mock.mock.requests)):  # type: ignore[union-attr]
        if tag.encode() in request.body:
            return {"path": request.path, "query": request.query, "headers": dict(request.headers),
                    "body": orjson.loads(request.body)}
    raise AssertionError(f"the upstream never received {tag}")


def test_chat(client, mock):
    tag = _tag()
    reply = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": f"hello {tag}"}])
    assert reply.choices[0].message.content == f"hello {tag}"
    assert reply.usage.prompt_tokens > 0 and reply.usage.total_tokens > reply.usage.prompt_tokens
    sent = received(mock, tag)
    assert sent["body"]["model"] == "gpt-4o-mini"
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_stream_with_include_usage(client):
    tag = _tag()
    chunks = list(client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": f"one two three {tag}"}], stream=True,
        stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"one two three {tag}"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_hides_the_usage_the_gateway_asked_for(client, mock):
    tag = _tag()
    with client.chat.completions.with_streaming_response.create(
        model="gpt", messages=[{"role": "user", "content": f"quiet {tag}"}], stream=True
    ) as response:
        raw = b"".join(response.iter_bytes())
    events = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    parsed = [orjson.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in parsed) == f"quiet {tag}"
    assert all(c["choices"] for c in parsed), "no usage-only chunk may reach the client"
    assert all(not c.get("usage") for c in parsed)
    assert received(mock, tag)["body"]["stream_options"] == {"include_usage": True}


def test_tools_and_streamed_tool_call_arguments(client, mock):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]
    tag = _tag()
    choice = {"type": "function", "function": {"name": "get_weather"}}
    reply = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": tag}], tools=tools,
                                           tool_choice=choice)
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and orjson.loads(call.function.arguments) == {"city": "mock", "days": 1}
    assert received(mock, tag)["body"]["tool_choice"] == choice

    tag = _tag()
    stream = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": f"call get_weather {tag}"}],
                                            tools=tools, tool_choice="auto", stream=True)
    name, arguments, pieces, finish = None, "", 0, None
    for chunk in stream:
        for choice_delta in chunk.choices:
            for delta in choice_delta.delta.tool_calls or ():
                assert delta.index == 0
                name = name or (delta.function.name if delta.function else None)
                if delta.function and delta.function.arguments:
                    arguments += delta.function.arguments
                    pieces += 1
            finish = choice_delta.finish_reason or finish
    assert name == "get_weather" and finish == "tool_calls"
    assert pieces > 1, "the arguments must arrive as several deltas"
    assert orjson.loads(arguments) == {"city": "mock", "days": 1}
    assert received(mock, tag)["body"]["tool_choice"] == "auto"


def test_sampling_fields_pass_through(client, mock):
    tag = _tag()
    client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": tag}], response_format={"type": "json_object"}, n=2,
        stop=["END", "STOP"], seed=1234, logprobs=True, top_logprobs=2, user="end-user-7", temperature=0.3,
    )
    body = received(mock, tag)["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert (body["n"], body["stop"], body["seed"], body["logprobs"], body["top_logprobs"], body["user"]) == (
        2, ["END", "STOP"], 1234, True, 2, "end-user-7")
    assert body["temperature"] == 0.3


def test_unknown_fields_pass_through(client, mock):
    tag = _tag()
    client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": tag}],
                                   extra_body={"vendor_knob": {"depth": 3}, "reasoning_effort": "low"})
    body = received(mock, tag)["body"]
    assert body["vendor_knob"] == {"depth": 3} and body["reasoning_effort"] == "low"


def test_legacy_completions_plain_and_streamed(client, mock):
    tag = _tag()
    reply = client.completions.create(model="legacy", prompt=f"say {tag}", max_tokens=20)
    assert reply.object == "text_completion" and reply.choices[0].text == f"say {tag}"
    assert received(mock, tag)["path"] == "/v1/completions"
    assert received(mock, tag)["body"]["model"] == "gpt-3.5-turbo-instruct"
    tag = _tag()
    text = "".join(c.choices[0].text for c in client.completions.create(model="legacy", prompt=f"go {tag}", stream=True)
                   if c.choices)
    assert text == f"go {tag}"


def test_embeddings_float_and_base64(client, mock):
    tag = _tag()
    floats = client.embeddings.create(model="embed", input=[f"a {tag}", "b"], encoding_format="float", dimensions=16)
    assert [d.index for d in floats.data] == [0, 1] and len(floats.data[0].embedding) == 16
    assert floats.usage.prompt_tokens > 0
    assert received(mock, tag)["body"]["encoding_format"] == "float"
    raw = client.embeddings.with_raw_response.create(model="embed", input=f"a {tag}", encoding_format="base64",
                                                     dimensions=16)
    data = orjson.loads(raw.content)["data"][0]["embedding"]
    assert isinstance(data, str)
    decoded = struct.unpack("<16f", base64.b64decode(data))
    assert decoded == pytest.approx(floats.data[0].embedding, rel=1e-6)


@pytest.mark.parametrize("deployment", [
    {"provider": "bedrock", "model": "amazon.titan-embed-text-v2:0",
     "options": {"aws_access_key_id": "AKIAE2E", "aws_secret_access_key": "s", "aws_region": "us-east-1"}},
    {"provider": "ollama_chat", "model": "nomic-embed-text"},
])
def test_base64_is_what_the_client_gets_whatever_the_upstream_sends(start_mock, start_gateway, deployment):
    """Bedrock and Ollama answer float lists; ``encoding_format: base64`` still gets base64 (found by
    the OpenAPI fuzz). The SDK asks for base64 by default and decodes it."""
    gateway = start_gateway({"models": {"embed": {"deployments": [{**deployment, "base_url": start_mock().url}]}}})
    body = {"model": "embed", "input": ["one", "two"]}
    floats = raw_request(gateway.url, "POST", "/v1/embeddings", orjson.dumps({**body, "encoding_format": "float"}))
    packed = raw_request(gateway.url, "POST", "/v1/embeddings", orjson.dumps({**body, "encoding_format": "base64"}))
    assert floats.status == packed.status == 200, packed.body
    for as_floats, as_base64 in zip(floats.json()["data"], packed.json()["data"]):
        vector = as_floats["embedding"]
        assert isinstance(as_base64["embedding"], str)
        assert struct.unpack(f"<{len(vector)}f", base64.b64decode(as_base64["embedding"])) == pytest.approx(vector)
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0).embeddings.create(**body)
    assert sdk.data[1].embedding == pytest.approx(floats.json()["data"][1]["embedding"])


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert {"gpt", "embed", "legacy", "azure-gpt", "fake/echo"} <= set(ids)
    assert client.models.retrieve("gpt").id == "gpt"
    assert client.models.retrieve("fake/echo").id == "fake/echo"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_health(gateway):
    live = raw_request(gateway.url, path="/health/live")
    ready = raw_request(gateway.url, path="/health/ready")
    assert live.status == 200 and live.json() == {"status": "ok"}
    assert ready.status == 200 and ready.json() == {"status": "ok"}  # no key: the verdict, not the fleet
    assert live.headers["x-request-id"] and ready.headers["x-request-id"]
    wrong = raw_request(gateway.url, path="/health/ready", headers={"authorization": "Bearer sk-wrong"})
    assert wrong.status == 200 and wrong.json() == {"status": "ok"}
    detail = raw_request(gateway.url, path="/health/ready", headers={"authorization": f"Bearer {MASTER}"})
    assert detail.status == 200 and "gpt#0" in detail.json()["deployments"]


def test_every_response_carries_a_request_id(client, gateway):
    reply = client.chat.completions.with_raw_response.create(model="gpt", messages=[{"role": "user", "content": "x"}])
    assert reply.headers["x-request-id"].startswith("req_")
    echoed = client.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": "x"}], extra_headers={"x-request-id": "client-id-42"})
    assert echoed.headers["x-request-id"] == "client-id-42"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"x-request-id": "client-id-43"})
    assert info.value.response.headers["x-request-id"] == "client-id-43"
    for path in ("/health/live", "/v1/models", "/no/such/path"):
        response = raw_request(gateway.url, path=path, headers={"authorization": f"Bearer {MASTER}"})
        assert response.headers["x-request-id"], path
    with client.chat.completions.with_streaming_response.create(
        model="gpt", messages=[{"role": "user", "content": "x"}], stream=True,
        extra_headers={"x-request-id": "client-stream-1"}) as streamed:
        assert streamed.headers["x-request-id"] == "client-stream-1"


def test_azure_deployment(client, mock):
    tag = _tag()
    reply = client.chat.completions.create(model="azure-gpt", messages=[{"role": "user", "content": tag}])
    assert reply.choices[0].message.content == tag
    sent = received(mock, tag)
    assert sent["path"] == "/openai/deployments/my-gpt-deployment/chat/completions"
    assert "api-version=2024-10-21" in sent["query"]
    assert sent["headers"]["api-key"] == UPSTREAM_KEY and "authorization" not in sent["headers"]
    tag = _tag()
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="azure-gpt", messages=[{"role": "user", "content": tag}], stream=True) if c.choices)
    assert text == tag


def test_fake_models_through_the_gateway(client):
    reply = client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "ping pong"}])
    assert reply.choices[0].message.content == "ping pong"
    words = [c.choices[0].delta.content for c in client.chat.completions.create(
        model="fake/echo", messages=[{"role": "user", "content": "a b c"}], stream=True) if c.choices]
    assert "".join(w or "" for w in words) == "a b c"


def test_embedded_default_needs_no_config(monkeypatch):
    monkeypatch.delenv("SWITCHYARD_MASTER_KEY", raising=False)
    from switchyard.gateway.defaults import default_config

    with GatewayThread(default_config(env={})) as running:
        client = openai.OpenAI(base_url=running.url + "/v1", api_key="anything", max_retries=0, timeout=20)
        reply = client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi there"}])
        assert reply.choices[0].message.content == "hi there"
        chunks = list(client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "x y"}],
                                                     stream=True, stream_options={"include_usage": True}))
        assert chunks[-1].usage.completion_tokens == 2
        vectors = client.embeddings.create(model="fake/echo", input="hello", encoding_format="float")
        assert len(vectors.data[0].embedding) == 8
        assert "fake/echo" in [m.id for m in client.models.list()]
