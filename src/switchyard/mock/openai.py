"""The OpenAI wire format (and Azure OpenAI's deployment paths) for the mock upstream.

Deterministic answers: the assistant echoes the last user message (or the
configured ``text``); usage counts about four characters a token. A request
with ``tools`` answers with a call to tool ``X`` when its last user message
contains ``call X`` or when ``tool_choice`` names ``X``; the arguments give each
declared parameter a placeholder of its JSON type (a string parameter ``p`` the
value the user spells ``p=<value>``). ``max_tokens`` cuts the
answer (``finish_reason: "length"``). Every answer carries OpenAI's
``x-ratelimit-*`` headers with fixed values. Usage carries OpenAI's details:
``cached_tokens`` (automatic caching of a repeated prefix of at least 1024
tokens) and ``reasoning_tokens`` (when ``reasoning_effort`` asks for reasoning).
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

import orjson

from switchyard.mock import wire
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply

RATE_LIMIT_HEADERS = (
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-limit-tokens", "10000000"),
    ("x-ratelimit-remaining-tokens", "9999000"),
    ("x-ratelimit-reset-tokens", "6ms"),
    ("openai-processing-ms", "1"),
)
_ERROR_TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "requests"}
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
_DONE = b"data: [DONE]\n\n"
_FINGERPRINT = "fp_mock"


class OpenAIWire:
    """OpenAI: ``Authorization: Bearer <key>``, model in the JSON body."""

    name = "openai"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        return wire.bearer_ok(request, api_key)

    def model_of(self, request: MockRequest) -> str | None:
        if request.method != "POST" or not request.body:
            return request.params.get("model")
        return wire.body_model(request)

    def error(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> Reply:
        kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        body = {"error": {"message": message, "type": kind, "param": param, "code": code or _ERROR_CODES.get(status)}}
        return Reply(status, orjson.dumps(body), RATE_LIMIT_HEADERS)


class AzureWire(OpenAIWire):
    """Azure OpenAI: ``api-key`` header, the deployment in the path names the model."""

    name = "azure"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        return request.headers.get("api-key") == api_key

    def model_of(self, request: MockRequest) -> str | None:
        return request.params.get("deployment")


OPENAI = OpenAIWire()
AZURE = AzureWire()


def _reply(obj: Any) -> Reply:
    return Reply(200, orjson.dumps(obj), RATE_LIMIT_HEADERS)


def _bad(message: str, param: str) -> Reply:
    return OPENAI.error(400, message, param=param)


def function_args(tool: dict[str, Any], given: str = "") -> str:
    """Placeholder arguments (a JSON string) for an OpenAI-style function tool (``wire.placeholder_args``)."""
    return orjson.dumps(wire.placeholder_args(tool.get("function", {}).get("parameters"), given=given)).decode()


def _tool_call(body: dict[str, Any], last_user: str) -> tuple[str, str] | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    if not tools:
        return None
    by_name = {t["function"]["name"]: t for t in tools}
    choice = body.get("tool_choice")
    forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    name = wire.pick_tool(by_name, last_user, forced=forced, mode=choice if choice in ("none", "required") else "auto")
    return None if name is None else (name, function_args(by_name[name], last_user))


def _usage(body: dict[str, Any], messages: list[Any], prompt_tokens: int, completion_tokens: int, last_user: str,
           settings: MockSettings) -> dict[str, Any]:
    """Usage with OpenAI's details: automatic prompt caching (the longest prefix of whole
    messages seen before, of at least 1024 tokens, in steps of 128) and reasoning tokens
    (inside ``completion_tokens``) when ``reasoning_effort`` asks for reasoning."""
    cached = 0
    if prompt_tokens >= wire.MIN_CACHEABLE_TOKENS:
        units = [(m, 4 + wire.count_tokens(wire.content_text(m.get("content"))), True) for m in messages]
        cached = settings.prompt_cache.use(wire.prefix_hashes(units))[0] // 128 * 128
    reasoning = 0
    if body.get("reasoning_effort") not in (None, "none"):
        reasoning = wire.count_tokens(wire.thought(last_user))
    completion_tokens += reasoning
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def chat_completions(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    body = req.json()
    model = body.get("model") or req.params.get("deployment")
    if not model:
        return _bad("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _bad("'messages' must be a non-empty array", "messages")
    prompt_tokens = 3 + sum(4 + wire.count_tokens(wire.content_text(m.get("content"))) for m in messages)
    last_user = wire.last_user_text(messages)
    call = _tool_call(body, last_user)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    text, cut = wire.answer_text(settings, last_user, limit, calls_tool=call is not None)
    finish = "length" if cut else "stop"
    completion_tokens = wire.count_tokens(call[1] if call else text)
    usage = _usage(body, messages, prompt_tokens, completion_tokens, last_user, settings)
    ident = f"chatcmpl-mock{req.seq:020d}"
    created = int(time.time())
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _chat_stream(ident, created, model, text, finish, call, usage if include_usage else None, settings.stream_chunks)
    if call is not None:
        tool_calls = [{"id": f"call_mock{req.seq:012d}", "type": "function", "function": {"name": call[0], "arguments": call[1]}}]
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": tool_calls, "refusal": None}
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": text, "refusal": None}
    return _reply(
        {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": _FINGERPRINT,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
    )


def _chat_stream(
    ident: str,
    created: int,
    model: str,
    text: str,
    finish: str,
    call: tuple[str, str] | None,
    usage: dict[str, Any] | None,
    pieces: int,
) -> StreamReply:
    base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model, "system_fingerprint": _FINGERPRINT}
    if usage is not None:
        base["usage"] = None

    def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return wire.sse_event({**base, "choices": [choice]})

    if call is not None:
        name, arguments = call
        chunks = [
            event(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"index": 0, "id": f"call_{ident[-12:]}", "type": "function", "function": {"name": name, "arguments": ""}}],
                }
            )
        ]
        chunks += [event({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}) for part in wire.split_text(arguments, pieces)]
        finish = "tool_calls"
    else:
        chunks = [event({"role": "assistant", "content": "", "refusal": None})]
        chunks += [event({"content": part}) for part in wire.split_text(text, pieces)]
    chunks.append(event({}, finish))
    if usage is not None:
        chunks.append(wire.sse_event({**base, "choices": [], "usage": usage}))
    chunks.append(_DONE)
    return StreamReply(chunks, headers=RATE_LIMIT_HEADERS)


def completions(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    """The legacy ``text_completion`` endpoint."""
    body = req.json()
    model = body.get("model") or req.params.get("deployment")
    if not model:
        return _bad("you must provide a model parameter", "model")
    prompt = body.get("prompt", "")
    prompt_text = prompt if isinstance(prompt, str) else " ".join(p for p in prompt if isinstance(p, str))
    text = settings.text if settings.text is not None else (prompt_text or "Hello from the mock upstream.")
    prompt_tokens, completion_tokens = wire.count_tokens(prompt_text), wire.count_tokens(text)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
    ident, created = f"cmpl-mock{req.seq:020d}", int(time.time())
    base = {"id": ident, "object": "text_completion", "created": created, "model": model}
    if body.get("stream"):
        def event(part: str, finish: str | None) -> bytes:
            return wire.sse_event({**base, "choices": [{"text": part, "index": 0, "logprobs": None, "finish_reason": finish}]})

        chunks = [event(part, None) for part in wire.split_text(text, settings.stream_chunks)]
        chunks.append(event("", "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(wire.sse_event({**base, "choices": [], "usage": usage}))
        chunks.append(_DONE)
        return StreamReply(chunks, headers=RATE_LIMIT_HEADERS)
    return _reply({**base, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}], "usage": usage})


def embeddings(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    model = body.get("model") or req.params.get("deployment")
    if not model:
        return _bad("you must provide a model parameter", "model")
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [" ".join(map(str, raw))]
    elif isinstance(raw, list) and raw:
        inputs = [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    else:
        return _bad("'input' must be a non-empty string or array", "input")
    dims = body.get("dimensions") or settings.embedding_dims
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(inputs):
        vec = wire.embedding_vector(text, dims)
        encoded: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if as_base64 else vec
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(wire.count_tokens(t) for t in inputs)
    return _reply({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "switchyard-mock"}


def list_models(req: MockRequest, settings: MockSettings) -> Reply:
    return _reply({"object": "list", "data": [_model_object(m) for m in settings.models]})


def get_model(req: MockRequest, settings: MockSettings) -> Reply:
    name = req.params["model"]
    if name not in settings.models and not name.startswith("mock-"):
        return OPENAI.error(404, f"The model '{name}' does not exist", code="model_not_found", param="model")
    return _reply(_model_object(name))


def _azure(handler: Any) -> Any:
    def azure_handler(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
        if not req.query_param("api-version"):
            return AZURE.error(404, "Resource not found", code="404")
        reply: Reply | StreamReply = handler(req, settings)
        return reply

    return azure_handler


ROUTES = (
    Route("POST", "/v1/chat/completions", chat_completions, OPENAI),
    Route("POST", "/v1/completions", completions, OPENAI),
    Route("POST", "/v1/embeddings", embeddings, OPENAI),
    Route("GET", "/v1/models", list_models, OPENAI),
    Route("GET", "/v1/models/{model}", get_model, OPENAI),
    Route("POST", "/openai/deployments/{deployment}/chat/completions", _azure(chat_completions), AZURE),
    Route("POST", "/openai/deployments/{deployment}/completions", _azure(completions), AZURE),
    Route("POST", "/openai/deployments/{deployment}/embeddings", _azure(embeddings), AZURE),
)
