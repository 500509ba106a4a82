"""Ollama's native API for the mock upstream: ``/api/chat`` (NDJSON), ``/api/embed``, ``/api/tags``.

Like Ollama, ``/api/chat`` streams unless the body says ``"stream": false``;
each line is a JSON object and the last one has ``done: true`` with
``done_reason``, ``prompt_eval_count`` and ``eval_count``. Tool calls arrive
whole in one line (Ollama does not stream arguments). Errors are
``{"error": "..."}``. Conventions of the OpenAI mock: echo the last user
message, ``call X`` calls tool ``X``, ``options.num_predict`` cuts the answer.
Model ``mock-stream-error`` streams two lines then an ``{"error": ...}`` line.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from switchyard.mock import wire
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply

NDJSON = "application/x-ndjson"


class OllamaWire:
    """No credentials unless the mock has a key (a proxy in front would ask for a bearer)."""

    name = "ollama"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        return wire.bearer_ok(request, api_key)

    def model_of(self, request: MockRequest) -> str | None:
        return wire.body_model(request) if request.method == "POST" else None

    def error(self, status: int, message: str, *, code: str | None = None) -> Reply:
        return Reply(status, orjson.dumps({"error": message}))


OLLAMA = OllamaWire()


def _created_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _tool_call(body: dict[str, Any], last_user: str) -> dict[str, Any] | None:
    by_name: dict[str, dict[str, Any]] = {}
    for tool in body.get("tools") or ():
        name = (tool.get("function") or {}).get("name")
        if name:
            by_name.setdefault(name, tool)
    name = wire.pick_tool(by_name, last_user)
    if name is None:
        return None
    return {"function": {"name": name, "arguments": wire.placeholder_args(by_name[name].get("function", {}).get("parameters"))}}


def chat(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    body = req.json()
    model, messages = body.get("model"), body.get("messages")
    if not model:
        return OLLAMA.error(400, "model is required")
    if not isinstance(messages, list):
        return OLLAMA.error(400, "messages must be an array")
    last_user = wire.last_user_text(messages, lambda content: str(content or ""))
    call = _tool_call(body, last_user)
    limit = (body.get("options") or {}).get("num_predict")
    text, cut = wire.answer_text(settings, last_user, limit if isinstance(limit, int) and limit > 0 else None,
                            calls_tool=call is not None)
    reason = "length" if cut else "stop"
    if call is not None:
        text = ""
    prompt = sum(4 + wire.count_tokens(str(m.get("content") or "")) for m in messages)
    final = {"model": model, "created_at": _created_at(), "done": True, "done_reason": reason,
             "total_duration": 1000, "load_duration": 10, "prompt_eval_count": prompt, "prompt_eval_duration": 100,
             "eval_count": wire.count_tokens(orjson.dumps(call).decode() if call else text), "eval_duration": 500}
    if not body.get("stream", True):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if call:
            message["tool_calls"] = [call]
        return Reply(200, orjson.dumps({**final, "message": message}))

    def line(obj: dict[str, Any]) -> bytes:
        return orjson.dumps(obj) + b"\n"

    lines = []
    for piece in wire.split_text(text, settings.stream_chunks) if text else ():
        lines.append(line({"model": model, "created_at": _created_at(), "message": {"role": "assistant", "content": piece}, "done": False}))
    if call:
        lines.append(line({"model": model, "created_at": _created_at(),
                           "message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False}))
    if model == "mock-stream-error":
        lines = lines[:2] + [line({"error": "an error was encountered while running the model"})]
    else:
        lines.append(line({**final, "message": {"role": "assistant", "content": ""}}))
    return StreamReply(lines, content_type=NDJSON, garbage_chunk=b"{not json\n")


def embed(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not body.get("model") or not isinstance(inputs, list) or not inputs:
        return OLLAMA.error(400, "model and input are required")
    dims = int(body.get("dimensions") or settings.embedding_dims)
    tokens = sum(wire.count_tokens(str(t)) for t in inputs)
    out = {"model": body["model"], "embeddings": [wire.embedding_vector(str(t), dims) for t in inputs],
           "total_duration": 1000, "load_duration": 10, "prompt_eval_count": tokens}
    return Reply(200, orjson.dumps(out))


def tags(req: MockRequest, settings: MockSettings) -> Reply:
    models = [{"name": m, "model": m, "modified_at": "2024-01-01T00:00:00Z", "size": 1, "digest": "0" * 64}
              for m in settings.models]
    return Reply(200, orjson.dumps({"models": models}))


ROUTES = (
    Route("POST", "/api/chat", chat, OLLAMA),
    Route("POST", "/api/embed", embed, OLLAMA),
    Route("GET", "/api/tags", tags, OLLAMA),
)
