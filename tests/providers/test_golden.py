"""Golden translations: each provider's documented request and response examples, in and out.

Every file in ``fixtures/golden`` names a transform, what goes in and what must come
out, and the documentation it follows (``doc``). The transforms are the pure wire
functions: an OpenAI body to Anthropic / Bedrock / Gemini, their answers and streams
back to OpenAI, and both directions of the Anthropic front door. Fields that are
made up per call (``created``, generated ids) are left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from switchyard.core.messages import Usage, validate_chat
from switchyard.providers import bedrock_format, gemini_format
from switchyard.providers.anthropic_format import front, messages, upstream
from switchyard.providers.anthropic_format.upstream_stream import StreamDecoder
from switchyard.providers.eventstream import EventMessage
from switchyard.transport.sse import SSEDecoder

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
CASES = sorted(GOLDEN.glob("*.json"))


def _chunks(chunks: list[Any]) -> list[dict[str, Any]]:
    """Chunks as ``{"delta", "finish_reason"}`` (finish only when set) or ``{"usage"}``."""
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        if chunk.data is None and chunk.raw is None:
            continue
        data = chunk.json()
        if not data.get("choices"):
            out.append({"usage": data["usage"]})
            continue
        choice = data["choices"][0]
        entry = {"delta": choice["delta"]}
        if choice.get("finish_reason"):
            entry["finish_reason"] = choice["finish_reason"]
        out.append(entry)
    return out


def _completion(body: dict[str, Any], keep_id: bool) -> dict[str, Any]:
    body = {k: v for k, v in body.items() if k != "created" and (keep_id or k != "id")}
    return body


def anthropic_request(case: dict[str, Any]) -> Any:
    return upstream.build_request(validate_chat(case["in"]).body, case["model"])


def anthropic_response(case: dict[str, Any]) -> Any:
    body, _ = upstream.message_to_openai(case["in"])
    return _completion(body, keep_id=True)


def anthropic_stream(case: dict[str, Any]) -> Any:
    decoder = StreamDecoder(include_usage=True)
    raw = b"".join(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n" for name, data in case["in"])
    chunks = [decoder.decode(e.event, e.data) for e in SSEDecoder().feed(raw)]
    assert decoder.done
    return _chunks([c for c in chunks if c is not None])


def front_request(case: dict[str, Any]) -> Any:
    body = front.to_chat_body(case["in"])
    validate_chat(body)  # what the front door hands the pipeline must pass the gateway's own checks
    return body


def front_response(case: dict[str, Any]) -> Any:
    message = front.to_message(case["in"], case["model"], Usage.from_openai(case["in"].get("usage")))
    assert message.pop("id").startswith("msg_")
    return message


def front_stream(case: dict[str, Any]) -> Any:
    stream = front.MessageStream(case["model"])
    frames: list[bytes] = []
    for chunk in case["in"]:
        frames += stream.feed(chunk, Usage.from_openai(chunk.get("usage")))
    frames += stream.finish()
    events = []
    for event in SSEDecoder().feed(b"".join(frames)):
        data = orjson.loads(event.data)
        if event.event == "message_start":
            assert data["message"].pop("id").startswith("msg_")
        events.append([event.event, data])
    return events


def bedrock_request(case: dict[str, Any]) -> Any:
    return bedrock_format.build_converse(validate_chat(case["in"]), case["model"])


def bedrock_response(case: dict[str, Any]) -> Any:
    response = bedrock_format.parse_converse(orjson.dumps(case["in"]), case["model"])
    return _completion(response.body, keep_id=False)


def bedrock_stream(case: dict[str, Any]) -> Any:
    translator = bedrock_format.StreamTranslator(case["model"], hide_usage=False)
    chunks = [translator.translate(EventMessage({":message-type": "event", ":event-type": kind}, orjson.dumps(payload)))
              for kind, payload in case["in"]]
    assert translator.done
    return _chunks([c for c in chunks if c is not None])


def gemini_request(case: dict[str, Any]) -> Any:
    return gemini_format.build_request(validate_chat(case["in"]))


def gemini_response(case: dict[str, Any]) -> Any:
    body = gemini_format.parse_response(orjson.dumps(case["in"]), case["model"], created=0).body
    for choice, wanted in zip(body["choices"], case["out"]["choices"], strict=True):
        for call, expected in zip(choice["message"].get("tool_calls") or (), wanted["message"].get("tool_calls") or (),
                                  strict=True):
            if expected["id"] == "*":  # Gemini gives calls no id: one is made up
                assert call["id"].startswith("call_")
                call["id"] = "*"
    return body


def gemini_stream(case: dict[str, Any]) -> Any:
    decoder = gemini_format.StreamDecoder(case["model"], include_usage=True, created=0)
    chunks = [c for data in case["in"] for c in decoder.feed(orjson.dumps(data).decode())] + decoder.close()
    return _chunks(chunks)


def openai_usage(case: dict[str, Any]) -> Any:
    usage = Usage.from_openai(case["in"])
    return {"openai": usage.to_openai(), "anthropic": messages.usage_from_core(usage)}


TRANSFORMS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "anthropic.request": anthropic_request,
    "anthropic.response": anthropic_response,
    "anthropic.stream": anthropic_stream,
    "front.request": front_request,
    "front.response": front_response,
    "front.stream": front_stream,
    "bedrock.request": bedrock_request,
    "bedrock.response": bedrock_response,
    "bedrock.stream": bedrock_stream,
    "gemini.request": gemini_request,
    "gemini.response": gemini_response,
    "gemini.stream": gemini_stream,
    "openai.usage": openai_usage,
}


def test_every_transform_has_a_golden_case():
    used = {orjson.loads(path.read_bytes())["transform"] for path in CASES}
    assert used == set(TRANSFORMS)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden(path: Path):
    case = orjson.loads(path.read_bytes())
    assert case["doc"], "say which documented example this follows"
    assert TRANSFORMS[case["transform"]](case) == case["out"]
