"""Ollama native transforms on fixture JSON (documented /api/chat and /api/embed shapes)."""

from pathlib import Path

import orjson
import pytest

from switchyard.core.errors import InvalidRequest, SwitchyardError
from switchyard.core.messages import validate_chat
from switchyard.providers import ollama_format as wire

FIXTURES = Path(__file__).parent / "fixtures" / "ollama"


def fixture(name):
    return orjson.loads((FIXTURES / name).read_bytes())


def test_full_request_translates_to_the_documented_api_chat_shape():
    built = wire.build_chat(validate_chat(fixture("chat_request.json")), "llava:13b")
    assert built == fixture("api_chat_request.json")
    assert set(built) <= wire.CHAT_KEYS


def test_stream_is_always_explicit_and_json_mode_is_format_json():
    built = wire.build_chat(validate_chat({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                           "response_format": {"type": "json_object"}}), "m", keep_alive="5m")
    assert built["stream"] is False and built["format"] == "json" and built["keep_alive"] == "5m"


def test_remote_image_urls_are_rejected_naming_the_field():
    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}
    with pytest.raises(InvalidRequest) as err:
        wire.build_chat(validate_chat(body), "m")
    assert err.value.param == "messages[0].content[0].image_url"


def test_text_answer_and_usage():
    response = wire.parse_chat((FIXTURES / "chat_response.json").read_bytes(), "llama3.2")
    choice = response.body["choices"][0]
    assert choice["message"]["content"] == "Hello! How are you today?" and choice["finish_reason"] == "stop"
    assert response.body["usage"] == {"prompt_tokens": 26, "completion_tokens": 298, "total_tokens": 324}


def test_tool_answer():
    choice = wire.parse_chat((FIXTURES / "chat_tool_response.json").read_bytes(), "m").body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert orjson.loads(call["function"]["arguments"]) == {"format": "celsius", "location": "Paris, FR"}


def test_length_finish():
    data = fixture("chat_response.json") | {"done_reason": "length"}
    assert wire.parse_chat(orjson.dumps(data), "m").body["choices"][0]["finish_reason"] == "length"


def test_stream_lines_to_chunks():
    translator = wire.StreamTranslator("m", hide_usage=False)
    chunks = [c for line in (FIXTURES / "chat_stream.ndjson").read_bytes().splitlines() for c in translator.translate(line)]
    deltas = [c.data["choices"][0]["delta"] for c in chunks if c.data["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == "The sky"
    [call] = [tc for d in deltas for tc in d.get("tool_calls", ())]
    assert call["index"] == 0 and orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert chunks[-2].data["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1].data["usage"] == {"prompt_tokens": 26, "completion_tokens": 282, "total_tokens": 308}
    assert translator.done


def test_stream_error_line_raises():
    translator = wire.StreamTranslator("m")
    with pytest.raises(SwitchyardError) as err:
        translator.translate(b'{"error":"model runner has unexpectedly stopped"}')
    assert err.value.retryable and "unexpectedly stopped" in err.value.message


@pytest.mark.parametrize(("status", "expect", "retryable"), [(400, 400, False), (404, 404, False), (429, 429, True), (500, 502, True)])
def test_error_bodies(status, expect, retryable):
    err = wire.parse_error(status, b'{"error":"model \\"x\\" not found, try pulling it first"}', {}.get)
    assert err.status == expect and err.retryable is retryable and "not found" in err.message


def test_embeddings():
    response = wire.parse_embed((FIXTURES / "embed_response.json").read_bytes(), "all-minilm")
    assert [d["index"] for d in response.body["data"]] == [0, 1]
    assert response.body["usage"]["prompt_tokens"] == 8
    assert wire.build_embed(["a", "b"], "all-minilm", 3) == {"model": "all-minilm", "input": ["a", "b"], "dimensions": 3}
