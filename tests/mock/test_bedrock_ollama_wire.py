"""The Bedrock and Ollama mock wire formats: real framing, their error shapes, fault knobs through the adapters."""

import pytest

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import UpstreamProtocolError
from switchyard.core.messages import validate_chat
from switchyard.mock import MockUpstream
from switchyard.providers.bedrock import BedrockProvider
from switchyard.providers.ollama import OllamaChatProvider
from switchyard.transport.client import HttpClient


@pytest.fixture
async def setup():
    mock = await MockUpstream(api_key="AKIAKEY", stream_chunks=5).start()
    http = HttpClient()
    yield mock, http
    await http.aclose()
    await mock.aclose()


def bedrock(mock, http, model="amazon.nova-lite-v1:0"):
    return BedrockProvider(DeploymentConfig(provider="bedrock", model=model, base_url=mock.url, options={
        "aws_access_key_id": "AKIAKEY", "aws_secret_access_key": "s", "aws_region": "eu-central-1"}), http)


def ollama(mock, http):
    return OllamaChatProvider(DeploymentConfig(provider="ollama_chat", model="llama3.2", base_url=mock.url, api_key="AKIAKEY"), http)


def chat(stream=False):
    return validate_chat({"model": "a", "messages": [{"role": "user", "content": "one two three four five"}], "stream": stream})


async def drain(provider, request):
    stream = await provider.stream(request, Call("t"))
    try:
        return [c async for c in stream]
    finally:
        await stream.aclose()


async def test_bedrock_rejects_unknown_keys_and_bad_turn_order_like_bedrock(setup):
    mock, http = setup
    reply = await http.request("POST", f"{mock.url}/model/m/converse", body=b'{"messages":[],"seed":1}')
    assert reply.status == 403  # no signature at all
    assert reply.headers.get("x-amzn-errortype").startswith("UnrecognizedClientException:")
    signed = bedrock(mock, http).signer.sign("POST", mock.url.split("//")[1], "/model/m/converse", {},
                                             b'{"messages":[{"role":"user","content":[{"text":"x"}]}],"seed":1}')
    reply = await http.request("POST", f"{mock.url}/model/m/converse", headers=signed,
                               body=b'{"messages":[{"role":"user","content":[{"text":"x"}]}],"seed":1}')
    assert reply.status == 400 and b"extraneous key [seed]" in reply.content
    assert reply.headers.get("x-amzn-errortype").startswith("ValidationException:")


async def test_bedrock_tampered_body_fails_the_content_hash(setup):
    mock, http = setup
    headers = bedrock(mock, http).signer.sign("POST", mock.url.split("//")[1], "/model/m/converse", {}, b"{}")
    reply = await http.request("POST", f"{mock.url}/model/m/converse", headers=headers, body=b'{"messages":[]}')
    assert reply.status == 403


async def test_bedrock_stream_is_binary_event_stream(setup):
    mock, http = setup
    chunks = await drain(bedrock(mock, http), chat(stream=True))
    assert "".join(c.data["choices"][0]["delta"].get("content") or "" for c in chunks if c.data) == "one two three four five"
    assert mock.requests[-1].headers["accept"] == "application/vnd.amazon.eventstream"


@pytest.mark.parametrize("make", [bedrock, ollama], ids=["bedrock", "ollama"])
async def test_garbage_stream_is_a_protocol_error(setup, make):
    mock, http = setup
    mock.set_faults(garbage=True)
    with pytest.raises(UpstreamProtocolError):
        await drain(make(mock, http), chat(stream=True))


@pytest.mark.parametrize("make", [bedrock, ollama], ids=["bedrock", "ollama"])
async def test_dropped_stream_is_an_error_not_a_short_answer(setup, make):
    mock, http = setup
    mock.set_faults(drop_after_chunks=3)
    with pytest.raises(UpstreamProtocolError):
        await drain(make(mock, http), chat(stream=True))


@pytest.mark.parametrize("make", [bedrock, ollama], ids=["bedrock", "ollama"])
async def test_garbage_body_is_a_protocol_error(setup, make):
    mock, http = setup
    mock.set_faults(garbage=True)
    with pytest.raises(UpstreamProtocolError):
        await make(mock, http).chat(chat(), Call("t"))


async def test_ollama_streams_unless_told_not_to(setup):
    mock, http = setup
    reply = await http.request("POST", f"{mock.url}/api/chat", headers={"authorization": "Bearer AKIAKEY"},
                               body=b'{"model":"m","messages":[{"role":"user","content":"hi"}]}')
    lines = reply.content.splitlines()
    assert reply.headers.get("content-type") == "application/x-ndjson" and len(lines) == 3
    assert lines[-1].startswith(b'{"model":"m"') and b'"done":true' in lines[-1]
    tags = await http.request("GET", f"{mock.url}/api/tags", headers={"authorization": "Bearer AKIAKEY"})
    assert b'"models"' in tags.content
