"""The real ``openai`` SDK parses everything the mock says."""

import base64
import struct

import openai
import pytest

from switchyard.mock import MockUpstream

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
    },
}


@pytest.fixture
async def mock():
    async with MockUpstream(api_key="sk-test", stream_chunks=5) as upstream:
        yield upstream


@pytest.fixture
async def sdk(mock):
    async with openai.AsyncOpenAI(api_key="sk-test", base_url=mock.base_url, max_retries=0) as client:
        yield client


async def test_chat_completion_echoes_the_last_user_message(sdk):
    resp = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "ping pong"}]
    )
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "ping pong"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens > 0


async def test_max_tokens_cuts_the_answer(sdk):
    resp = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 400}], max_tokens=5
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens == 5


async def test_stream_with_usage(sdk):
    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "streaming is fun"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streaming is fun"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 5


async def test_tool_call(sdk):
    resp = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "please call get_weather"}], tools=[WEATHER_TOOL]
    )
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"mock","days":1}'


async def test_tool_call_stream_assembles(sdk):
    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "call get_weather"}], tools=[WEATHER_TOOL], stream=True
    )
    name, args, ids = "", "", set()
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or ():
            assert delta.index == 0
            ids.add(delta.id) if delta.id else None
            name += (delta.function.name or "") if delta.function else ""
            args += (delta.function.arguments or "") if delta.function else ""
    assert (name, args, finish, len(ids)) == ("get_weather", '{"city":"mock","days":1}', "tool_calls", 1)


@pytest.mark.parametrize("encoding", ["float", "base64"])
async def test_embeddings(mock, encoding):
    async with openai.AsyncOpenAI(api_key="sk-test", base_url=mock.base_url, max_retries=0) as sdk:
        resp = await sdk.embeddings.create(
            model="text-embedding-3-small", input=["a", "b"], encoding_format=encoding, dimensions=8
        )
    assert [d.index for d in resp.data] == [0, 1]
    vector = resp.data[0].embedding
    if isinstance(vector, str):
        vector = list(struct.unpack("<8f", base64.b64decode(vector)))
    assert len(vector) == 8 and abs(sum(v * v for v in vector) - 1) < 1e-4


async def test_sdk_default_embeddings_decode(sdk):
    resp = await sdk.embeddings.create(model="text-embedding-3-small", input="same")
    again = await sdk.embeddings.create(model="text-embedding-3-small", input="same")
    assert len(resp.data[0].embedding) == 64
    assert resp.data[0].embedding == again.data[0].embedding


async def test_models(sdk):
    listed = [m.id async for m in sdk.models.list()]
    assert "gpt-4o-mini" in listed
    assert (await sdk.models.retrieve("gpt-4o")).id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        await sdk.models.retrieve("no-such-model")


async def test_legacy_completions(sdk):
    resp = await sdk.completions.create(model="gpt-3.5-turbo-instruct", prompt="once upon a time")
    assert resp.object == "text_completion" and resp.choices[0].text == "once upon a time"
    stream = await sdk.completions.create(model="gpt-3.5-turbo-instruct", prompt="once upon", stream=True)
    assert "".join([c.choices[0].text async for c in stream]) == "once upon"


async def test_wrong_key_is_an_authentication_error(mock):
    async with openai.AsyncOpenAI(api_key="sk-wrong", base_url=mock.base_url, max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as info:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("mock-400", openai.BadRequestError),
        ("mock-403", openai.PermissionDeniedError),
        ("mock-404", openai.NotFoundError),
        ("mock-429", openai.RateLimitError),
        ("mock-500", openai.InternalServerError),
        ("mock-503", openai.InternalServerError),
    ],
)
async def test_fault_models_raise_the_sdk_error(sdk, model, error):
    with pytest.raises(error) as info:
        await sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["message"].startswith("Mock fault")


async def test_rate_limit_headers(sdk):
    raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-ratelimit-remaining-requests"] == "9999"
    assert raw.headers["x-ratelimit-limit-tokens"] == "10000000"


async def test_azure_deployment_paths_check_the_api_key_header(mock):
    async with openai.AsyncAzureOpenAI(
        api_key="sk-test", azure_endpoint=mock.url, api_version="2024-06-01", max_retries=0
    ) as azure:
        resp = await azure.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "hi azure"}])
        assert resp.choices[0].message.content == "hi azure" and resp.model == "my-deployment"
        emb = await azure.embeddings.create(model="emb-deployment", input="x")
        assert len(emb.data[0].embedding) == 64
    async with openai.AsyncAzureOpenAI(
        api_key="sk-bad", azure_endpoint=mock.url, api_version="2024-06-01", max_retries=0
    ) as azure:
        with pytest.raises(openai.AuthenticationError):
            await azure.chat.completions.create(model="d", messages=[{"role": "user", "content": "x"}])
    assert mock.count("/openai/deployments/my-deployment/chat/completions") == 1
