"""Pure transforms of the OpenAI wire format, on fixture JSON: no network."""

from __future__ import annotations

import orjson
import pytest

from switchyard.core.errors import (
    ContextWindowExceeded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from switchyard.core.messages import validate_chat
from switchyard.providers import openai_format as wire

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 7,
        "completion_tokens": 2,
        "total_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 1},
    },
}


def _chat(**fields):
    return validate_chat({"model": "alias", "messages": [{"role": "user", "content": "hi"}], **fields})


def _no_headers(_name):
    return None


def test_build_chat_body_rewrites_model_and_keeps_unknown_fields():
    request = _chat(temperature=0.5, some_vendor_field={"x": 1}, seed=7)
    body = wire.build_chat_body(request, "gpt-4o-mini")
    assert body["model"] == "gpt-4o-mini"
    assert body["some_vendor_field"] == {"x": 1}
    assert body["seed"] == 7 and body["temperature"] == 0.5
    assert "stream_options" not in body
    assert request.body["model"] == "alias", "the client's body must not be mutated"


def test_build_chat_body_asks_usage_for_streams_without_touching_the_client_body():
    request = _chat(stream=True)
    body = wire.build_chat_body(request, "up")
    assert body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in request.body
    request = _chat(stream=True, stream_options={"include_usage": False, "other": 1})
    body = wire.build_chat_body(request, "up")
    assert body["stream_options"] == {"include_usage": True, "other": 1}
    assert request.body["stream_options"] == {"include_usage": False, "other": 1}


def test_build_chat_body_without_asking_usage():
    body = wire.build_chat_body(_chat(stream=True), "up", ask_usage=False)
    assert "stream_options" not in body


def test_build_chat_body_drops_and_renames():
    request = _chat(seed=3, logprobs=True, user="u")
    body = wire.build_chat_body(request, "up", drop=("logprobs", "absent"), rename={"seed": "random_seed", "nope": "x"})
    assert "logprobs" not in body and "seed" not in body
    assert body["random_seed"] == 3 and body["user"] == "u" and "x" not in body


def test_parse_chat_keeps_raw_bytes_and_reads_usage():
    raw = orjson.dumps(COMPLETION)
    result = wire.parse_chat(raw)
    assert result.to_bytes() is raw
    assert result.usage.prompt_tokens == 7 and result.usage.completion_tokens == 2
    assert result.usage.cached_tokens == 3 and result.usage.reasoning_tokens == 1
    assert result.usage.to_openai()["total_tokens"] == 9


@pytest.mark.parametrize("raw", [b"<html>nope</html>", b"[1, 2]", b'{"object": "list"}', b""])
def test_parse_chat_rejects_what_is_not_a_completion(raw):
    with pytest.raises(UpstreamProtocolError):
        wire.parse_chat(raw)


def test_parse_chat_turns_an_error_body_with_200_into_an_error():
    with pytest.raises(UpstreamUnavailable) as info:
        wire.parse_chat(b'{"error": {"message": "overloaded", "type": "server_error"}}')
    assert info.value.message == "overloaded"


def test_parse_embeddings():
    raw = b'{"object":"list","data":[{"index":0,"embedding":[0.1]}],"usage":{"prompt_tokens":2,"total_tokens":2}}'
    result = wire.parse_embeddings(raw)
    assert result.usage.prompt_tokens == 2 and result.to_bytes() is raw
    with pytest.raises(UpstreamProtocolError):
        wire.parse_embeddings(b'{"object":"list"}')
    with pytest.raises(UpstreamProtocolError):
        wire.parse_embeddings(b"garbage")


@pytest.mark.parametrize(
    "status, kind, http_status, code",
    [(429, UpstreamRateLimited, 429, "rate_limit_exceeded"), (500, UpstreamUnavailable, 502, "upstream_error"),
     (503, UpstreamUnavailable, 502, "upstream_error"), (504, UpstreamTimeout, 504, "upstream_timeout"),
     (408, UpstreamTimeout, 504, "upstream_timeout"), (400, UpstreamRejected, 400, "c1"),
     (404, UpstreamRejected, 404, "c1")],
)
def test_parse_error_maps_status(status, kind, http_status, code):
    """The upstream's own code is passed on only with its own 4xx; failures get the gateway's codes."""
    raw = orjson.dumps({"error": {"message": "boom", "type": "x", "param": "messages", "code": "c1"}})
    err = wire.parse_error(status, raw, _no_headers)
    assert isinstance(err, kind)
    assert err.status == http_status
    assert err.message == "boom" and err.code == code and err.param == "messages"


def test_openai_rate_limit_codes_are_passed_on():
    for code in ("rate_limit_exceeded", "insufficient_quota"):
        raw = orjson.dumps({"error": {"message": "m", "type": "insufficient_quota", "code": code}})
        assert wire.parse_error(429, raw, _no_headers).code == code


def test_parse_error_reads_retry_after():
    headers = {"retry-after": "7"}
    err = wire.parse_error(429, b'{"error": {"message": "slow down"}}', headers.get)
    assert err.retry_after == 7.0
    assert err.response_headers()["retry-after"] == "7"


def test_parse_error_context_window():
    raw = b'{"error": {"message": "This model\'s maximum context length is 10", "code": "context_length_exceeded"}}'
    err = wire.parse_error(400, raw, _no_headers)
    assert isinstance(err, ContextWindowExceeded) and err.fallback


@pytest.mark.parametrize("raw", [b"", b"<html>502</html>", b"[]", b'{"error": "plain string"}'])
def test_parse_error_survives_odd_bodies(raw):
    err = wire.parse_error(502, raw, _no_headers)
    assert err.status == 502
    assert err.message  # never empty


def test_stream_decoder_passes_chunks_as_bytes():
    decoder = wire.StreamDecoder()
    text = '{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}'
    chunk = decoder.decode(text)
    assert chunk.raw == text.encode() and chunk.usage is None
    assert decoder.decode("[DONE]") is None and decoder.done


def test_stream_decoder_reads_usage_and_forwards_it_when_asked():
    decoder = wire.StreamDecoder(hide_usage=False)
    chunk = decoder.decode('{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}')
    assert chunk.usage.completion_tokens == 4 and chunk.raw is not None
    assert decoder.usage.prompt_tokens == 3


def test_stream_decoder_hides_the_usage_the_client_did_not_ask_for():
    decoder = wire.StreamDecoder(hide_usage=True)
    hidden = decoder.decode('{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}')
    assert hidden.data is None and hidden.raw is None  # never sent to the client...
    assert hidden.usage.completion_tokens == 4 == decoder.usage.completion_tokens  # ...but accounted
    # usage riding on a content chunk: the content goes out, the usage does not
    chunk = decoder.decode('{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}}')
    assert chunk.raw is None and chunk.data["usage"] is None
    assert orjson.loads(chunk.to_bytes())["choices"][0]["delta"]["content"] == "x"


def test_stream_decoder_raises_on_error_events():
    decoder = wire.StreamDecoder()
    with pytest.raises(UpstreamUnavailable) as info:
        decoder.decode('{"error": {"message": "model overloaded", "type": "server_error"}}')
    assert "overloaded" in info.value.message


@pytest.mark.parametrize("text", ["{not json", "not json at all", '{"id": "c", "choices": [', "<html>"])
def test_stream_decoder_rejects_garbage_events(text):
    with pytest.raises(UpstreamProtocolError):
        wire.StreamDecoder().decode(text)
