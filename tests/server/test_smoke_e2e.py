"""First end-to-end: the official openai SDK -> gateway -> mock upstream."""

import openai
import pytest


@pytest.fixture
def client(mock_upstream, start_gateway, openai_deployment):
    gateway = start_gateway({
        "auth": {"master_key": "sk-master"},
        "models": {"gpt": {"deployments": [openai_deployment(mock_upstream)]}},
    })
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-master", max_retries=0)


def test_chat_roundtrip(client):
    reply = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hello gateway"}])
    assert "hello gateway" in reply.choices[0].message.content
    assert reply.usage.total_tokens > 0


def test_stream_with_usage(client):
    stream = client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "one two three"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "one two three" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
