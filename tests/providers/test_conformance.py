"""One conformance suite, written once, run over every provider adapter.

Each adapter is built from the registry with a deployment pointing at one mock
upstream that speaks every wire format (``conformance.py`` says how), and is
called with OpenAI-format requests: text, system prompt, multi-turn, tools and
tool results, an image, streamed text and a streamed tool call, usage, finish
reasons, error statuses, and the upstream body's top-level keys against the
provider's documented list.
"""

from __future__ import annotations

import orjson
import pytest

from switchyard.core.call import Call
from switchyard.core.config import DeploymentConfig
from switchyard.core.errors import SwitchyardError, UpstreamAuthError
from switchyard.core.messages import validate_chat
from switchyard.core.registry import Registry
from switchyard.mock import MockUpstreamThread
from switchyard.transport.client import HttpClient
from tests.providers.conformance import ADAPTERS, KEY, mock_formats

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def _param(adapter):
    marks = [] if adapter.present else [pytest.mark.skip(reason=f"{adapter.id}: module not in the tree yet")]
    return pytest.param(adapter, id=adapter.id, marks=marks)


ALL = [_param(a) for a in ADAPTERS]
#: The adapters whose upstreams call tools.
TOOL_CALLING = [_param(a) for a in ADAPTERS if a.tools]


@pytest.fixture(scope="module")
def upstream():
    with MockUpstreamThread(api_key=KEY, stream_chunks=6, formats=mock_formats()) as mock:
        yield mock


@pytest.fixture
def mock(upstream):
    upstream.reset()
    yield upstream
    upstream.reset()


@pytest.fixture
async def http():
    client = HttpClient()
    yield client
    await client.aclose()


def _adapter(adapter, mock, http):
    config = DeploymentConfig.model_validate(adapter.deployment(mock))
    return Registry(use_entry_points=False).get(adapter.provider)(config, http)


def _request(**body):
    body.setdefault("model", "alias")
    return validate_chat(body)


def _call():
    return Call(request_id="conformance")


def _sent(mock) -> bytes:
    # the last request with a body (Replicate reads a stream with a GET after the POST that created it)
    return next(r.body for r in reversed(mock.mock.requests) if r.method == "POST")


async def _collect(provider, request):
    """Streamed chunks as dicts (the ones a client would see) and the usage seen."""
    stream = await provider.stream(request, _call())
    chunks, usage = [], None
    try:
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.data is not None or chunk.raw is not None:
                chunks.append(chunk.json())
    finally:
        await stream.aclose()
    return chunks, usage


def _text(chunks):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def _finishes(chunks):
    return [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices") and c["choices"][0].get("finish_reason")]


@pytest.mark.parametrize("adapter", ALL)
async def test_text_chat_with_usage(adapter, mock, http):
    reply = await _adapter(adapter, mock, http).chat(_request(messages=[{"role": "user", "content": "hello conformance"}]), _call())
    body = reply.body if reply.body is not None else orjson.loads(reply.to_bytes())
    choice = body["choices"][0]
    assert body["object"] == "chat.completion"
    assert choice["message"]["role"] == "assistant" and "hello conformance" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert body["usage"]["total_tokens"] == reply.usage.total_tokens


@pytest.mark.parametrize("adapter", ALL)
async def test_system_prompt_reaches_upstream(adapter, mock, http):
    request = _request(messages=[{"role": "system", "content": "SYSTEM-MARKER-42"}, {"role": "user", "content": "hi"}])
    reply = await _adapter(adapter, mock, http).chat(request, _call())
    assert b"SYSTEM-MARKER-42" in _sent(mock)
    assert "hi" in reply.body["choices"][0]["message"]["content"]


@pytest.mark.parametrize("adapter", ALL)
async def test_multi_turn(adapter, mock, http):
    messages = [{"role": "user", "content": "FIRST-TURN"}, {"role": "assistant", "content": "ASSISTANT-TURN"},
                {"role": "user", "content": "second question"}]
    reply = await _adapter(adapter, mock, http).chat(_request(messages=messages), _call())
    sent = _sent(mock)
    assert b"FIRST-TURN" in sent and b"ASSISTANT-TURN" in sent
    assert reply.body["choices"][0]["message"]["content"] == "second question"


@pytest.mark.parametrize("adapter", TOOL_CALLING)
async def test_tool_call_and_tool_result_round_trip(adapter, mock, http):
    provider = _adapter(adapter, mock, http)
    first = await provider.chat(_request(messages=[{"role": "user", "content": "call get_weather"}], tools=TOOLS), _call())
    choice = first.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"] and call["function"]["name"] == "get_weather"
    assert set(orjson.loads(call["function"]["arguments"])) == {"city"}
    history = [{"role": "user", "content": "call get_weather"},
               {"role": "assistant", "content": None, "tool_calls": [call]},
               {"role": "tool", "tool_call_id": call["id"], "content": "TOOL-RESULT-17"},
               {"role": "user", "content": "thanks"}]
    second = await provider.chat(_request(messages=history, tools=TOOLS), _call())
    assert b"TOOL-RESULT-17" in _sent(mock)
    assert second.body["choices"][0]["message"]["content"] == "thanks"


@pytest.mark.parametrize("adapter", ALL)
async def test_image_as_base64_data_url(adapter, mock, http):
    content = [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    reply = await _adapter(adapter, mock, http).chat(_request(messages=[{"role": "user", "content": content}]), _call())
    assert PNG.encode() in _sent(mock).replace(b"\\/", b"/")
    assert "describe" in reply.body["choices"][0]["message"]["content"]


@pytest.mark.parametrize("adapter", ALL)
async def test_max_tokens_finishes_with_length(adapter, mock, http):
    request = _request(messages=[{"role": "user", "content": "a sentence that is certainly longer than two tokens"}], max_tokens=2)
    reply = await _adapter(adapter, mock, http).chat(request, _call())
    assert reply.body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("adapter", ALL)
async def test_stream_text_with_usage(adapter, mock, http):
    request = _request(messages=[{"role": "user", "content": "stream me these words please"}], stream=True,
                       stream_options={"include_usage": True})
    chunks, usage = await _collect(_adapter(adapter, mock, http), request)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert _text(chunks) == "stream me these words please"
    assert len([c for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("content")]) > 1
    assert _finishes(chunks) == ["stop"]
    if adapter.stream_usage:
        assert usage is not None and usage.completion_tokens > 0
        assert chunks[-1]["usage"]["completion_tokens"] == usage.completion_tokens


@pytest.mark.parametrize("adapter", ALL)
async def test_stream_without_usage_keeps_it_for_accounting(adapter, mock, http):
    request = _request(messages=[{"role": "user", "content": "no usage for me"}], stream=True)
    chunks, usage = await _collect(_adapter(adapter, mock, http), request)
    assert _text(chunks) == "no usage for me"
    assert not any(c.get("usage") for c in chunks)
    if adapter.stream_usage:
        assert usage is not None and usage.prompt_tokens > 0


@pytest.mark.parametrize("adapter", TOOL_CALLING)
async def test_streamed_tool_call_assembles(adapter, mock, http):
    request = _request(messages=[{"role": "user", "content": "call get_weather"}], tools=TOOLS, stream=True)
    chunks, _ = await _collect(_adapter(adapter, mock, http), request)
    calls = [tc for c in chunks if c.get("choices") for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls and {tc["index"] for tc in calls} == {0}
    assert calls[0]["id"] and calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(tc["function"].get("arguments") or "" for tc in calls)
    assert set(orjson.loads(arguments)) == {"city"}
    assert _finishes(chunks) == ["tool_calls"]


@pytest.mark.parametrize("adapter", ALL)
def test_native_finish_reasons_map_to_openai(adapter):
    cases = adapter.finish_cases()
    assert {"stop", "length", *(["tool_calls"] if adapter.tools else [])} <= set(cases)
    for expected, native in cases.items():
        assert adapter.parse(native).body["choices"][0]["finish_reason"] == expected, (adapter.id, expected)


# An upstream 401/403 is the gateway's key refused: a 502 that may fall back, never a client 401.
ERRORS = [(400, 400, False), (401, 502, False), (403, 502, False), (429, 429, True), (500, 502, True), (503, 502, True)]
FALLBACK_ONLY = (401, 403)


@pytest.mark.parametrize(("status", "expected", "retryable"), ERRORS, ids=[str(e[0]) for e in ERRORS])
@pytest.mark.parametrize("adapter", ALL)
async def test_error_statuses_map_to_core_errors(adapter, mock, http, status, expected, retryable):
    provider = _adapter(adapter, mock, http)
    # one good call first, so credentials fetched on first use (Vertex's token) are not what fails
    await provider.chat(_request(messages=[{"role": "user", "content": "warm up"}]), _call())
    for stream in (False, True):
        mock.set_faults(status=status, retry_after=2 if status == 429 else None, count=1)
        request = _request(messages=[{"role": "user", "content": "x"}], stream=stream)
        with pytest.raises(SwitchyardError) as err:
            if stream:
                await provider.stream(request, _call())
            else:
                await provider.chat(request, _call())
        assert err.value.status == expected, (stream, err.value)
        assert err.value.retryable is retryable
        assert err.value.fallback is (retryable or status in FALLBACK_ONLY)
        if status == 429:
            assert err.value.retry_after == 2
        if status == 400:
            assert err.value.type == "invalid_request_error"
        if status in FALLBACK_ONLY:
            assert isinstance(err.value, UpstreamAuthError) and err.value.type == "api_error"
            assert err.value.code == "upstream_authentication_error"


KITCHEN_SINK = {
    "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}],
    "max_tokens": 50, "temperature": 0.5, "top_p": 0.9, "stop": ["NEVER"], "seed": 1, "user": "end-user-1",
    "presence_penalty": 0.1, "frequency_penalty": 0.1, "logprobs": False, "logit_bias": {"50256": -100},
    "parallel_tool_calls": True, "tools": TOOLS, "tool_choice": "auto",
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}},
}


@pytest.mark.parametrize("adapter", ALL)
async def test_upstream_request_has_only_documented_keys(adapter, mock, http):
    provider = _adapter(adapter, mock, http)
    await provider.chat(_request(**KITCHEN_SINK), _call())
    sent = set(orjson.loads(_sent(mock)))
    assert sent <= adapter.allowed_keys, sorted(sent - adapter.allowed_keys)
    chunks, _ = await _collect(provider, _request(**KITCHEN_SINK, stream=True, stream_options={"include_usage": True}))
    assert chunks
    sent = set(orjson.loads(_sent(mock)))
    assert sent <= adapter.allowed_keys, sorted(sent - adapter.allowed_keys)


@pytest.mark.parametrize("adapter", ALL)
async def test_kept_response_headers_land_on_the_call(adapter, mock, http):
    """The driver leaves the headers an adapter keeps on ``call.upstream_headers``,
    for a unary answer and as soon as a stream opens (before any chunk is read)."""
    provider = _adapter(adapter, mock, http)
    kept = set(provider.driver.keep.values())
    unary = _call()
    await provider.chat(_request(messages=[{"role": "user", "content": "hi"}]), unary)
    streamed = _call()
    stream = await provider.stream(_request(messages=[{"role": "user", "content": "hi"}], stream=True), streamed)
    try:
        for call in (unary, streamed):
            assert call.upstream_headers is not None and set(call.upstream_headers) <= kept
            if provider.driver.keep:
                assert call.upstream_headers
    finally:
        await stream.aclose()


async def test_the_fake_refuses_huge_dimensions_and_speaks_base64():
    """As OpenAI: dimensions past the model's are a 400 (not seconds of work on the loop);
    encoding_format base64 is little-endian float32s."""
    import base64
    import struct

    import switchyard
    from switchyard.core.errors import InvalidRequest

    async with switchyard.AsyncClient() as client:
        with pytest.raises(InvalidRequest) as refused:
            await client.embed(model="fake/echo", input="x", dimensions=2_000_000)
        assert refused.value.param == "dimensions"
        floats = (await client.embed(model="fake/echo", input="x", dimensions=16)).vectors[0]
        packed = (await client.embed(model="fake/echo", input="x", dimensions=16, encoding_format="base64")).vectors[0]
        assert struct.unpack("<16f", base64.b64decode(packed)) == pytest.approx(floats, rel=1e-6)
        reply = await client.chat(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
        assert reply.body["choices"][0]["message"]["refusal"] is None  # OpenAI always sends it
