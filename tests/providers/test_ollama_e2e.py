"""The official openai SDK -> gateway -> ollama_chat adapter -> mock Ollama (/api/chat NDJSON, /api/embed)."""

import openai
import pytest

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture
def ollama_mock(start_mock):
    return start_mock(stream_chunks=4)


@pytest.fixture
def client(ollama_mock, start_gateway):
    def deployment(model):
        return {"provider": "ollama_chat", "model": model, "base_url": ollama_mock.url, "options": {"keep_alive": "10m"}}

    gateway = start_gateway({"models": {
        "llama": {"deployments": [deployment("llama3.2")]},
        "broken": {"deployments": [deployment("mock-stream-error")]},
        "embedder": {"deployments": [deployment("all-minilm")]},
    }})
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


def test_text(client, ollama_mock):
    reply = client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "hello ollama"}], max_tokens=50)
    assert reply.choices[0].message.content == "hello ollama" and reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    sent = ollama_mock.mock.requests[-1].json()
    assert sent["stream"] is False and sent["options"] == {"num_predict": 50} and sent["keep_alive"] == "10m"


def test_stream_with_usage(client):
    chunks = list(client.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "the sky is blue today"}], stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "the sky is blue today"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens > 0


def test_length(client):
    reply = client.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "a fairly long sentence to cut short"}], max_tokens=2)
    assert reply.choices[0].finish_reason == "length"


def test_streamed_tool_call(client):
    chunks = list(client.chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "call get_weather"}], tools=TOOLS, stream=True))
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or ())]
    assert calls[0].function.name == "get_weather" and calls[0].function.arguments == '{"city":"mock"}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_errors(client, ollama_mock):
    ollama_mock.set_faults(status=404, count=1)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "x"}])
    ollama_mock.set_faults(status=500)  # every attempt, so retries cannot hide it
    try:
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "x"}])
    finally:
        ollama_mock.reset()
    assert err.value.status_code == 502


def test_mid_stream_error_is_terminal(client):
    stream = client.chat.completions.create(
        model="broken", messages=[{"role": "user", "content": "tell me a long story"}], stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_embeddings(client):
    reply = client.embeddings.create(model="embedder", input=["a", "b"], dimensions=8)
    assert [len(d.embedding) for d in reply.data] == [8, 8] and reply.usage.prompt_tokens == 2
