"""Replicate's predictions API for the mock upstream.

``POST /v1/models/{owner}/{name}/predictions`` (an official model),
``POST /v1/deployments/{owner}/{name}/predictions`` (a deployment) and
``POST /v1/predictions`` (``version`` in the body) create a prediction from
``{"input": {...}, "stream": ...}``; other fields are refused (422), as are inputs a
language model does not take. With ``Prefer: wait`` the answer is the finished
prediction (``output`` a list of text pieces, ``metrics`` with token counts); without
it, or for a model whose name holds ``async``, it is ``starting``, and
``GET /v1/predictions/{id}`` gives the finished one. ``"stream": true`` adds
``urls.stream``: ``GET /v1/stream/{id}`` sends ``output`` events, then ``done``.

The mock keeps nothing: a prediction's id carries what it needs (the prompt, the token
limit, the model), so any replica of the mock answers its polls and streams. The answer
echoes the last ``User:`` turn of a transcript prompt (or the whole prompt), cut to about
``max_tokens`` tokens. Errors are problem details: ``{"title", "detail", "status"}``.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from switchyard.mock import wire
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply

_FIELDS = frozenset({"input", "stream", "version", "webhook", "webhook_events_filter"})
#: The inputs of Replicate's language models the mock takes.
_INPUTS = frozenset({"prompt", "system_prompt", "image", "max_tokens", "max_new_tokens", "temperature", "top_p",
                     "seed", "stop_sequences", "prompt_template", "min_tokens", "top_k", "presence_penalty",
                     "frequency_penalty"})
_MAX_ID_PROMPT = 4000


class ReplicateWire:
    name = "replicate"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        return wire.bearer_ok(request, api_key)

    def model_of(self, request: MockRequest) -> str | None:
        return request.params.get("name") or None

    def error(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> Reply:
        title = "Unauthenticated" if status == 401 else "Invalid request" if status < 500 else "Server error"
        return Reply(status, orjson.dumps({"title": title, "detail": message, "status": status}),
                     content_type="application/problem+json")


REPLICATE = ReplicateWire()


def _last_user(prompt: str) -> str:
    """The last user turn of a transcript prompt (``User: ...`` turns ending ``Assistant:``), or the prompt."""
    marker = prompt.rfind("User: ")
    if marker < 0:
        return prompt
    turn = prompt[marker + len("User: "):]
    return turn.split("\n\nAssistant:", 1)[0].strip()


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def _decode(ident: str) -> dict[str, Any]:
    state = orjson.loads(base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)))
    if not isinstance(state, dict):
        raise ValueError("not a prediction id of this mock")
    return state


def _base(req: MockRequest) -> str:
    return f"http://{req.headers.get('host', '127.0.0.1')}/v1"


def _prediction(req: MockRequest, state: dict[str, Any], settings: MockSettings, status: str) -> dict[str, Any]:
    ident = _encode(state)
    out: dict[str, Any] = {
        "id": ident, "model": state["model"], "version": state.get("version") or "mock-version",
        "input": {"prompt": state["prompt"]}, "logs": "", "error": None, "status": status,
        "created_at": "2026-11-26T00:00:00.000Z", "data_removed": False,
        "urls": {"get": f"{_base(req)}/predictions/{ident}", "cancel": f"{_base(req)}/predictions/{ident}/cancel",
                 "web": f"https://replicate.com/p/{ident[:20]}"},
    }
    if state.get("stream"):
        out["urls"]["stream"] = f"{_base(req)}/stream/{ident}"
    if status == "succeeded":
        text, _ = wire.answer_text(settings, _last_user(state["prompt"]), state.get("limit"))
        out["output"] = wire.split_text(text, settings.stream_chunks)
        out["metrics"] = {"input_token_count": wire.count_tokens(state["prompt"] + state.get("system", "")),
                          "output_token_count": wire.count_tokens(text), "predict_time": 0.01}
        out["completed_at"] = "2026-11-26T00:00:01.000Z"
    return out


def create(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    if not isinstance(body, dict):
        return REPLICATE.error(422, "the body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return REPLICATE.error(422, f"Additional property {unknown[0]} is not allowed")
    given = body.get("input")
    if not isinstance(given, dict) or not isinstance(given.get("prompt"), str):
        return REPLICATE.error(422, "input: prompt is required")
    extra = sorted(set(given) - _INPUTS)
    if extra:
        return REPLICATE.error(422, f"input: Additional property {extra[0]} is not allowed")
    if req.path == "/v1/predictions" and not body.get("version"):
        return REPLICATE.error(422, "version is required")
    model = f"{req.params.get('owner', 'mock')}/{req.params.get('name', 'model')}"
    limit = given.get("max_tokens", given.get("max_new_tokens"))
    state = {"model": model, "prompt": given["prompt"][-_MAX_ID_PROMPT:], "system": given.get("system_prompt") or "",
             "limit": limit if isinstance(limit, int) else None, "stream": bool(body.get("stream")),
             "version": body.get("version")}
    waits = "wait" in (req.headers.get("prefer") or "") and "async" not in model
    status = "succeeded" if waits and not state["stream"] else "starting"
    return Reply(201, orjson.dumps(_prediction(req, state, settings, status)))


def get(req: MockRequest, settings: MockSettings) -> Reply:
    try:
        state = _decode(req.params["id"])
    except ValueError:
        return REPLICATE.error(404, "The requested resource could not be found.")
    return Reply(200, orjson.dumps(_prediction(req, state, settings, "succeeded")))


def stream(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    try:
        state = _decode(req.params["id"])
    except ValueError:
        return REPLICATE.error(404, "The requested resource could not be found.")
    text, _ = wire.answer_text(settings, _last_user(state["prompt"]), state.get("limit"))
    frames = [b"event: output\nid: " + str(n).encode() + b"\n" + b"".join(b"data: " + line.encode() + b"\n"
                                                                         for line in piece.split("\n")) + b"\n"
              for n, piece in enumerate(wire.split_text(text, settings.stream_chunks))]
    frames.append(b"event: done\ndata: {}\n\n")
    return StreamReply(frames, garbage_chunk=b"event: done\ndata: {\"reason\": \"error\"}\n\n")


ROUTES = (
    Route("POST", "/v1/models/{owner}/{name}/predictions", create, REPLICATE),
    Route("POST", "/v1/deployments/{owner}/{name}/predictions", create, REPLICATE),
    Route("POST", "/v1/predictions", create, REPLICATE),
    Route("GET", "/v1/predictions/{id}", get, REPLICATE),
    Route("GET", "/v1/stream/{id}", stream, REPLICATE),
)
