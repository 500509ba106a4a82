"""The official ``openai`` SDK -> gateway -> Gemini / Vertex AI / Cohere adapters -> the mock upstream.

One mock serves all three wire formats; the Vertex deployment gets its OAuth
token from the mock's token endpoint (the key file's ``token_uri``), and the
mock only accepts tokens it issued.
"""

from __future__ import annotations

import base64
import struct

import openai
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

UPSTREAM_KEY = "upstream-key-77"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}
PROVIDERS = ["gemini", "vertex", "cohere"]


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def deployment(provider: str, mock, model: str, pem: str) -> dict:
    if provider == "gemini":
        return {"provider": "gemini", "model": model, "base_url": f"{mock.url}/v1beta", "api_key": UPSTREAM_KEY}
    if provider == "cohere":
        return {"provider": "cohere", "model": model, "base_url": mock.url, "api_key": UPSTREAM_KEY}
    key_file = {"type": "service_account", "project_id": "proj-1", "private_key_id": "kid1", "private_key": pem,
                "client_email": "gw@proj-1.iam.gserviceaccount.com", "token_uri": f"{mock.url}/token"}
    return {"provider": "vertex", "model": model, "base_url": f"{mock.url}/v1",
            "options": {"location": "europe-west4", "credentials": key_file}}


@pytest.fixture(scope="module")
def stack(private_key_pem):
    from switchyard.mock import MockUpstreamThread
    from switchyard.server.runner import GatewayThread

    mock = MockUpstreamThread(api_key=UPSTREAM_KEY, stream_chunks=4).start()
    models = {}
    for provider in PROVIDERS:
        for suffix, model in (("", "model-x"), ("-429", "mock-429"), ("-drop", "mock-drop"),
                              ("-stream-error", "mock-stream-error")):
            models[f"{provider}{suffix}"] = {"deployments": [deployment(provider, mock, model, private_key_pem)]}
    models["gemini-badkey"] = {"deployments": [{**deployment("gemini", mock, "m", ""), "api_key": "wrong"}]}
    models["cohere-badkey"] = {"deployments": [{**deployment("cohere", mock, "m", ""), "api_key": "wrong"}]}
    gateway = GatewayThread({"models": models}).start()
    client = openai.OpenAI(api_key="sk-client", base_url=f"{gateway.url}/v1", max_retries=0, timeout=20)
    yield mock, client
    client.close()
    gateway.stop()
    mock.stop()


def last_upstream_body(mock, fragment: str) -> dict:
    for req in reversed(mock.mock.requests):
        if fragment in req.path:
            return orjson.loads(req.body)
    raise AssertionError(f"no upstream request to {fragment}")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_text_chat(stack, provider):
    _, client = stack
    resp = client.chat.completions.create(model=provider, messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "ping pong"}])
    assert resp.choices[0].message.content == "ping pong"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_only_fields_never_reach_the_upstream(stack, provider):
    # The mock refuses unknown fields (400) as Google and Cohere do.
    mock, client = stack
    resp = client.chat.completions.create(
        model=provider, messages=[{"role": "user", "content": "fields"}], n=1, user="u-1", logprobs=False,
        parallel_tool_calls=True, metadata={"k": "v"}, store=False, seed=3, max_completion_tokens=50,
        stream=True, stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in resp if c.choices) == "fields"
    sent = last_upstream_body(mock, "/v2/chat" if provider == "cohere" else "GenerateContent")
    assert not {"n", "user", "logprobs", "parallel_tool_calls", "metadata", "store", "stream_options"} & set(sent)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_with_usage(stack, provider):
    _, client = stack
    stream = client.chat.completions.create(model=provider, messages=[{"role": "user", "content": "streaming is fun"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streaming is fun"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2  # arrived in pieces


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_without_usage_sends_no_usage_chunk(stack, provider):
    _, client = stack
    chunks = list(client.chat.completions.create(model=provider, messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(c.choices for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_call(stack, provider):
    _, client = stack
    resp = client.chat.completions.create(model=provider, tools=[WEATHER],
                                          messages=[{"role": "user", "content": "please call get_weather"}])
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and orjson.loads(call.function.arguments) == {"city": "mock", "days": 1}
    # The tool result goes back and the conversation continues.
    follow = client.chat.completions.create(model=provider, tools=[WEATHER], messages=[
        {"role": "user", "content": "please call get_weather"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 20}'},
        {"role": "user", "content": "and now?"}])
    assert follow.choices[0].message.content == "and now?"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_call_stream_assembles(stack, provider):
    _, client = stack
    stream = client.chat.completions.create(model=provider, tools=[WEATHER], stream=True,
                                            messages=[{"role": "user", "content": "call get_weather"}])
    name, args, ids, finish = "", "", set(), None
    for chunk in stream:
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or ():
            ids.add(call.id) if call.id else None
            name += call.function.name or "" if call.function else ""
            args += call.function.arguments or "" if call.function else ""
        finish = choice.finish_reason or finish
    assert name == "get_weather" and orjson.loads(args) == {"city": "mock", "days": 1}
    assert len(ids) == 1 and finish == "tool_calls"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_image_reaches_the_upstream_in_its_format(stack, provider):
    mock, client = stack
    image = "data:image/png;base64,iVBORw0KGgo="
    resp = client.chat.completions.create(model=provider, messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": image}}]}])
    assert resp.choices[0].message.content == "what is this"
    if provider == "cohere":
        part = last_upstream_body(mock, "/v2/chat")["messages"][0]["content"][1]
        assert part == {"type": "image_url", "image_url": {"url": image}}
    else:
        part = last_upstream_body(mock, ":generateContent")["contents"][0]["parts"][1]
        assert part == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_embeddings(stack, provider):
    _, client = stack
    result = client.embeddings.create(model=provider, input=["alpha", "beta"], dimensions=16)  # base64 by default
    assert [d.index for d in result.data] == [0, 1] and len(result.data[0].embedding) == 16
    floats = client.embeddings.create(model=provider, input="alpha", dimensions=16, encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-6)
    assert abs(sum(v * v for v in floats.data[0].embedding) - 1.0) < 1e-3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_upstream_rate_limit_is_a_rate_limit_error(stack, provider):
    _, client = stack
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=f"{provider}-429", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers.get("retry-after") == "1"


@pytest.mark.parametrize("provider", ["gemini", "cohere"])
def test_bad_upstream_key_is_an_upstream_error_not_the_callers(stack, provider):
    _, client = stack
    with pytest.raises(openai.InternalServerError) as info:  # 502: the gateway's key, not the caller's
        client.chat.completions.create(model=f"{provider}-badkey", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502 and info.value.code == "upstream_authentication_error"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_dropped_stream_is_an_error_not_a_short_answer(stack, provider):
    _, client = stack
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model=f"{provider}-drop", stream=True,
                                                messages=[{"role": "user", "content": "a long enough answer to cut"}]):
            pass


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
def test_error_event_mid_stream_reaches_the_client(stack, provider):
    _, client = stack
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model=f"{provider}-stream-error", stream=True,
                                                    messages=[{"role": "user", "content": "a long enough answer"}]):
            received.append(chunk)
    assert received and "middle of the stream" in str(info.value)


def test_float_packing_matches_the_sdk_decoding():
    # What openai_shapes packs is what the SDK unpacks (little-endian float32).
    from switchyard.core.messages import Usage
    from switchyard.providers.openai_shapes import embedding_list

    packed = embedding_list([[0.5, -2.0]], "m", Usage(), "base64")["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(packed)) == (0.5, -2.0)
