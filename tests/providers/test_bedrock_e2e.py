"""The official openai SDK -> gateway -> Bedrock adapter -> mock Bedrock (SigV4 checked, real event-stream frames)."""

import openai
import pytest

ACCESS_KEY = "AKIAMOCKMOCKMOCK"


@pytest.fixture
def bedrock_mock(start_mock):
    return start_mock(api_key=ACCESS_KEY, stream_chunks=5)


def _deployment(mock, model="anthropic.claude-3-5-sonnet-20240620-v1:0", **options):
    return {"provider": "bedrock", "model": model, "base_url": mock.url,
            "options": {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": "secret", "aws_region": "us-west-2",
                        "aws_session_token": "session", **options}}


@pytest.fixture
def client(bedrock_mock, start_gateway):
    gateway = start_gateway({"models": {
        "claude": {"deployments": [_deployment(bedrock_mock)]},
        "broken": {"deployments": [_deployment(bedrock_mock, model="mock-stream-error")]},
        "titan": {"deployments": [_deployment(bedrock_mock, model="amazon.titan-embed-text-v2:0")]},
        "cohere-embed": {"deployments": [_deployment(bedrock_mock, model="cohere.embed-english-v3")]},
        "bad-key": {"deployments": [{**_deployment(bedrock_mock), "options": {
            "aws_access_key_id": "AKIAWRONG", "aws_secret_access_key": "x", "aws_region": "us-west-2"}}]},
    }})
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def test_text(client, bedrock_mock):
    reply = client.chat.completions.create(
        model="claude", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello bedrock"}])
    assert reply.choices[0].message.content == "hello bedrock"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    request = bedrock_mock.mock.requests[-1]
    assert request.path == "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert request.headers["x-amz-security-token"] == "session"
    assert request.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-west-2/bedrock/aws4_request" in request.headers["authorization"]


def test_stream_with_usage(client):
    stream = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "one two three four five six"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_stream_without_usage_sends_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "hi there"}], stream=True))
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


def test_tools_streamed_arguments(client):
    stream = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "please call get_weather"}], tools=TOOLS, stream=True)
    calls = [tc for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or ())]
    assert calls[0].function.name == "get_weather" and calls[0].id.startswith("tooluse_")
    assert len(calls) > 2  # arguments arrived in pieces
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"city":"mock"}'


def test_tool_round_trip(client):
    first = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "call get_weather"}], tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    second = client.chat.completions.create(model="claude", tools=TOOLS, messages=[
        {"role": "user", "content": "call get_weather"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18C"},
        {"role": "user", "content": "thanks"},
    ])
    assert second.choices[0].message.content == "thanks"


def test_errors(client, bedrock_mock):
    bedrock_mock.set_faults(status=429, retry_after=3)  # every attempt, so retries cannot hide it
    try:
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    finally:
        bedrock_mock.reset()
    assert err.value.response.headers["retry-after"] == "3"
    with pytest.raises(openai.InternalServerError) as err:  # the gateway's AWS key refused: 502, not 401
        client.chat.completions.create(model="bad-key", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 502 and err.value.code == "upstream_authentication_error"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="claude", messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}])
    assert "base64" in str(err.value)


def test_mid_stream_exception_is_a_terminal_error(client):
    stream = client.chat.completions.create(
        model="broken", messages=[{"role": "user", "content": "a long answer please"}], stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_embeddings_titan_and_cohere(client):
    titan = client.embeddings.create(model="titan", input=["a", "b", "c"], dimensions=16)
    assert [len(d.embedding) for d in titan.data] == [16, 16, 16] and titan.usage.prompt_tokens == 3
    cohere = client.embeddings.create(model="cohere-embed", input=["hello", "world"])
    assert len(cohere.data) == 2 and cohere.usage.prompt_tokens > 0
