"""The Cohere v2 wire format for the mock upstream: ``POST /v2/chat`` and ``POST /v2/embed``.

``Authorization: Bearer <key>``; errors are ``{"id": ..., "message": ...}``;
unknown request fields are refused (400) as Cohere does. Streams are SSE
events named by ``type`` (``message-start``, ``content-start``,
``content-delta``..., ``content-end`` or ``tool-plan-delta``,
``tool-call-start``, ``tool-call-delta``..., ``tool-call-end``, then
``message-end`` with the finish reason and usage). Like the OpenAI mock it
echoes the last user text and calls tool ``X`` when the user says ``call X``
(or ``tool_choice`` is ``REQUIRED``).
"""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.mock import wire
from switchyard.mock.openai import function_args
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply

_CHAT_FIELDS = frozenset({
    "model", "messages", "stream", "tools", "documents", "citation_options", "response_format", "safety_mode",
    "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty", "presence_penalty", "k", "p",
    "logprobs", "tool_choice", "strict_tools", "thinking", "priority",
})
_EMBED_FIELDS = frozenset({"model", "texts", "images", "inputs", "input_type", "embedding_types",
                           "output_dimension", "truncate", "max_tokens", "priority"})


class CohereWire:
    name = "cohere"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        return wire.bearer_ok(request, api_key)

    def model_of(self, request: MockRequest) -> str | None:
        return wire.body_model(request)

    def error(self, status: int, message: str, *, code: str | None = None) -> Reply:
        return Reply(status, orjson.dumps({"id": "00000000-mock-error", "message": message}))


COHERE = CohereWire()


def _bad(message: str) -> Reply:
    return COHERE.error(400, message)


def _unknown(body: dict[str, Any], known: frozenset[str]) -> Reply | None:
    for name in body:
        if name not in known:
            return _bad(f"invalid request: unknown field: parameter '{name}' is not a valid field")
    return None


def _call(body: dict[str, Any], last_user: str) -> tuple[str, str] | None:
    by_name = {t["function"]["name"]: t for t in body.get("tools") or ()}
    mode = {"NONE": "none", "REQUIRED": "required"}.get(str(body.get("tool_choice")), "auto")
    name = wire.pick_tool(by_name, last_user, mode=mode)
    return None if name is None else (name, function_args(by_name[name]))


def _event(kind: str, **fields: Any) -> bytes:
    return wire.sse_event({"type": kind, **fields}, kind)


def chat(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    body = req.json()
    refused = _unknown(body, _CHAT_FIELDS)
    if refused:
        return refused
    messages = body.get("messages")
    if not body.get("model"):
        return _bad("invalid request: model is required")
    if not isinstance(messages, list) or not messages:
        return _bad("invalid request: messages must be a non-empty list")
    last_user = wire.last_user_text(messages)
    call = _call(body, last_user)
    text, cut = wire.answer_text(settings, last_user, body.get("max_tokens"), calls_tool=call is not None)
    finish = "MAX_TOKENS" if cut else "COMPLETE"
    prompt = sum(wire.count_tokens(wire.content_text(m.get("content")) or " ") for m in messages)
    output = wire.count_tokens(call[1] if call else text)
    usage = {"billed_units": {"input_tokens": prompt, "output_tokens": output},
             "tokens": {"input_tokens": prompt + 60, "output_tokens": output}}
    ident = f"mock-{req.seq:012d}"
    call_id = f"mock_call_{req.seq:08d}"
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant"}
        if call is not None:
            message["tool_plan"] = f"I will call {call[0]}."
            message["tool_calls"] = [{"id": call_id, "type": "function", "function": {"name": call[0], "arguments": call[1]}}]
            finish = "TOOL_CALL"
        else:
            message["content"] = [{"type": "text", "text": text}]
        return Reply(200, orjson.dumps({"id": ident, "finish_reason": finish, "message": message, "usage": usage}))
    start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
    events = [_event("message-start", id=ident, delta=start)]
    if call is not None:
        name, arguments = call
        events.append(_event("tool-plan-delta", delta={"message": {"tool_plan": f"I will call {name}."}}))
        events.append(_event("tool-call-start", index=0, delta={"message": {"tool_calls": {
            "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}}}))
        events += [_event("tool-call-delta", index=0, delta={"message": {"tool_calls": {"function": {"arguments": part}}}})
                   for part in wire.split_text(arguments, settings.stream_chunks)]
        events.append(_event("tool-call-end", index=0))
        finish = "TOOL_CALL"
    else:
        events.append(_event("content-start", index=0, delta={"message": {"content": {"type": "text", "text": ""}}}))
        events += [_event("content-delta", index=0, delta={"message": {"content": {"text": part}}})
                   for part in wire.split_text(text, settings.stream_chunks)]
        events.append(_event("content-end", index=0))
    events.append(_event("message-end", delta={"finish_reason": finish, "usage": usage}))
    return StreamReply(events)


def embed(req: MockRequest, settings: MockSettings) -> Reply:
    body = req.json()
    refused = _unknown(body, _EMBED_FIELDS)
    if refused:
        return refused
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts:
        return _bad("invalid request: texts must be a non-empty list")
    if not body.get("input_type"):
        return _bad("invalid request: input_type is required for embed models v3 and higher.")
    dims = body.get("output_dimension") or settings.embedding_dims
    vectors = [wire.embedding_vector(t, dims) for t in texts]
    tokens = sum(wire.count_tokens(t) for t in texts)
    return Reply(200, orjson.dumps({
        "id": f"mock-{req.seq:012d}",
        "embeddings": {"float": vectors},
        "texts": texts,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
        "response_type": "embeddings_by_type",
    }))


def rerank(req: MockRequest, settings: MockSettings) -> Reply:
    """``/v2/rerank``: scores by the share of the query's words each document holds, best first."""
    body = req.json()
    refused = _unknown(body, frozenset({"model", "query", "documents", "top_n", "max_tokens_per_doc"}))
    if refused:
        return refused
    query, documents = body.get("query"), body.get("documents")
    if not isinstance(query, str) or not isinstance(documents, list) or not documents:
        return _bad("invalid request: query and a non-empty documents list are required")
    wanted = {w for w in query.lower().split() if len(w) > 2}
    scores = [len(wanted & set(str(d).lower().split())) / len(wanted) if wanted else 0.0 for d in documents]
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:body.get("top_n") or len(scores)]
    return Reply(200, orjson.dumps({
        "id": f"mock-{req.seq:012d}",
        "results": [{"index": i, "relevance_score": scores[i]} for i in order],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }))


ROUTES = (
    Route("POST", "/v2/chat", chat, COHERE),
    Route("POST", "/v2/embed", embed, COHERE),
    Route("POST", "/v2/rerank", rerank, COHERE),
)
