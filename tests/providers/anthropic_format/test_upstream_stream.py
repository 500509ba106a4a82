"""An Anthropic upstream's stream events -> OpenAI chunks, pure, on fixtures of Anthropic's documented streams."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from switchyard.core.errors import UpstreamProtocolError, UpstreamUnavailable
from switchyard.providers.anthropic_format.upstream_stream import StreamDecoder
from switchyard.transport.sse import SSEDecoder

FIXTURES = Path(__file__).parents[1] / "fixtures" / "anthropic"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode_stream(name: str, **options) -> tuple[list, StreamDecoder]:
    decoder = StreamDecoder(**options)
    chunks = []
    for event in SSEDecoder().feed(fixture(name)):
        chunk = decoder.decode(event.event, event.data)
        if chunk is not None:
            chunks.append(chunk)
    return chunks, decoder



def test_stream_text_sequence():
    chunks, decoder = decode_stream("stream_text.sse", include_usage=True)
    assert decoder.done
    deltas = [c.data["choices"][0]["delta"] for c in chunks if c.data and c.data["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "Hello!"
    finishes = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data and c.data["choices"]]
    assert finishes[-1] == "stop"
    last = chunks[-1]
    assert last.data["choices"] == [] and last.data["usage"]["completion_tokens"] == 15
    assert last.usage.prompt_tokens == 30 and last.usage.cached_tokens == 5
    assert all(c.data["id"] == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY" for c in chunks if c.data)


def test_stream_usage_hidden_unless_asked():
    chunks, _ = decode_stream("stream_text.sse")
    assert chunks[-1].data is None and chunks[-1].raw is None
    assert chunks[-1].usage.completion_tokens == 15


def test_stream_tool_use_deltas():
    chunks, decoder = decode_stream("stream_tool_use.sse")
    calls = [tc for c in chunks if c.data and c.data["choices"] for tc in c.data["choices"][0]["delta"].get("tool_calls", [])]
    starts = [tc for tc in calls if "id" in tc]
    assert [(tc["index"], tc["id"], tc["function"]["name"]) for tc in starts] == [
        (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"), (1, "toolu_02U2y2gK45rBnl3uOUsO8Vq7", "get_time")]
    first_args = "".join(tc["function"]["arguments"] for tc in calls if tc["index"] == 0)
    assert orjson.loads(first_args) == {"location": "San Francisco, CA"}
    assert orjson.loads("".join(tc["function"]["arguments"] for tc in calls if tc["index"] == 1)) == {"tz": "PST"}
    finish = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data and c.data["choices"]][-1]
    assert finish == "tool_calls"
    assert decoder.done and chunks[-1].usage.completion_tokens == 89


def test_stream_error_event_raises_a_retryable_core_error():
    decoder = StreamDecoder()
    events = SSEDecoder().feed(fixture("stream_error.sse"))
    produced = []
    with pytest.raises(UpstreamUnavailable) as info:
        for event in events:
            produced.append(decoder.decode(event.event, event.data))
    assert info.value.message == "Overloaded" and info.value.code == "upstream_error"  # the gateway's code, not Anthropic's
    assert any(c is not None and c.data["choices"][0]["delta"].get("content") == "Part" for c in produced)


def test_stream_garbage_is_a_protocol_error():
    with pytest.raises(UpstreamProtocolError):
        StreamDecoder().decode("message_start", "{not json")
