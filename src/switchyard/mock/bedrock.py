"""The AWS Bedrock Runtime wire format for the mock upstream.

``POST /model/{modelId}/converse`` answers Converse JSON, ``/converse-stream``
real binary event-stream frames (``messageStart``, ``contentBlockStart``,
``contentBlockDelta``, ``contentBlockStop``, ``messageStop``, ``metadata``),
``/invoke`` Titan or Cohere embeddings. Errors are ``{"message": ...}`` with
``x-amzn-errortype``. Same conventions as the OpenAI mock: the answer echoes
the last user text, ``call X`` in it calls tool ``X``, ``maxTokens`` cuts it.
With ``api_key`` set, it is the access key id the SigV4 ``Authorization``
must name (or a Bedrock API key as ``Bearer``); a 401 fault answers like AWS,
403 ``UnrecognizedClientException``. Model ``mock-stream-error`` streams two
deltas then a ``modelStreamErrorException`` event. Unknown top-level request
keys are rejected as Bedrock does.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import unquote

import orjson

from switchyard.mock import wire
from switchyard.mock.wire import MockRequest, MockSettings, Reply, Route, StreamReply
from switchyard.providers.eventstream import encode_event, encode_exception

CONVERSE_KEYS = frozenset({
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
    "additionalModelResponseFieldPaths", "promptVariables", "requestMetadata", "performanceConfig",
})
_ERROR_TYPES = {
    400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
    404: "ResourceNotFoundException", 408: "ModelTimeoutException", 424: "ModelErrorException",
    429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException",
}
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/[\w-]+/bedrock/aws4_request, "
                   r"SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$")
EVENTSTREAM = "application/vnd.amazon.eventstream"


class BedrockWire:
    """SigV4 (or a Bedrock API key as bearer); the model id is in the path."""

    name = "bedrock"

    def authorized(self, request: MockRequest, api_key: str) -> bool:
        auth = request.headers.get("authorization", "")
        if auth == f"Bearer {api_key}":
            return True
        match = _AUTH.match(auth)
        if not match or match.group(1) != api_key:
            return False
        signed = match.group(2).split(";")
        if not {"host", "x-amz-date"} <= set(signed):
            return False
        digest = request.headers.get("x-amz-content-sha256")
        return digest is None or digest == hashlib.sha256(request.body).hexdigest()

    def model_of(self, request: MockRequest) -> str | None:
        model = request.params.get("model")
        return unquote(model) if model else None

    def error(self, status: int, message: str, *, code: str | None = None) -> Reply:
        kind = _ERROR_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
        if status == 401:
            status, message = 403, "The security token included in the request is invalid."
        headers = (("x-amzn-errortype", f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                   ("x-amzn-requestid", "mock-request-id"))
        return Reply(status, orjson.dumps({"message": message}), headers)


BEDROCK = BedrockWire()


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        texts = [b["text"] for b in message.get("content") or () if isinstance(b, dict) and "text" in b]
        if texts:
            return " ".join(texts)
    return ""


def _check(body: dict[str, Any]) -> str | None:
    extra = sorted(set(body) - CONVERSE_KEYS)
    if extra:
        return f"Malformed input request: extraneous key [{extra[0]}] is not permitted, please reformat your input and try again."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "The messages field is required and must not be empty."
    if messages[0].get("role") != "user":
        return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    for previous, current in zip(messages, messages[1:]):
        if previous.get("role") == current.get("role"):
            return "A conversation must alternate between user and assistant roles."
    return None


def _tool_call(body: dict[str, Any], last_user: str) -> tuple[str, dict[str, Any]] | None:
    config = body.get("toolConfig") or {}
    specs = {t["toolSpec"]["name"]: t["toolSpec"] for t in config.get("tools") or () if "toolSpec" in t}
    if not specs:
        return None
    choice = config.get("toolChoice") or {}
    if "tool" in choice:  # a forced tool that is not declared calls nothing (no fall back to "call X")
        name = choice["tool"].get("name")
    else:
        name = wire.pick_tool(specs, last_user, mode="required" if "any" in choice else "auto")
    if name not in specs:
        return None
    return name, wire.placeholder_args((specs[name].get("inputSchema") or {}).get("json"))


def _answer(req: MockRequest, settings: MockSettings) -> dict[str, Any] | Reply:
    body = req.json()
    problem = _check(body)
    if problem:
        return BEDROCK.error(400, problem)
    messages = body["messages"]
    last_user = _last_user_text(messages)
    call = _tool_call(body, last_user)
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    text, cut = wire.answer_text(settings, last_user, limit, calls_tool=call is not None)
    stop = "max_tokens" if cut else "end_turn"
    system = " ".join(b.get("text", "") for b in body.get("system") or ())
    prompt = wire.count_tokens(system) + sum(4 + wire.count_tokens(orjson.dumps(m.get("content")).decode()) for m in messages)
    completion = wire.count_tokens(orjson.dumps(call[1]).decode() if call else text)
    usage = {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion,
             "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0}
    return {"text": text, "call": call, "stop": "tool_use" if call else stop, "usage": usage, "seq": req.seq}


def converse(req: MockRequest, settings: MockSettings) -> Reply:
    answer = _answer(req, settings)
    if isinstance(answer, Reply):
        return answer
    if answer["call"]:
        name, args = answer["call"]
        content: list[dict[str, Any]] = [{"toolUse": {"toolUseId": f"tooluse_mock{answer['seq']:012d}", "name": name, "input": args}}]
    else:
        content = [{"text": answer["text"]}]
    body = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": answer["stop"],
            "usage": answer["usage"], "metrics": {"latencyMs": 1}}
    return Reply(200, orjson.dumps(body), (("x-amzn-requestid", f"mock-{answer['seq']}"),))


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return encode_event(kind, orjson.dumps({**data, "p": "abcdefgh"}))


def converse_stream(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    answer = _answer(req, settings)
    if isinstance(answer, Reply):
        return answer
    frames = [_event("messageStart", {"role": "assistant"})]
    if answer["call"]:
        name, args = answer["call"]
        use = {"toolUseId": f"tooluse_mock{answer['seq']:012d}", "name": name}
        frames.append(_event("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": use}}))
        pieces = wire.split_text(orjson.dumps(args).decode(), settings.stream_chunks)
        frames += [_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": p}}}) for p in pieces]
    else:
        pieces = wire.split_text(answer["text"], settings.stream_chunks)
        frames += [_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces]
    if unquote(req.params.get("model", "")) == "mock-stream-error":
        frames = frames[:3] + [encode_exception("modelStreamErrorException", b'{"message":"The model stopped unexpectedly."}')]
        return StreamReply(frames, content_type=EVENTSTREAM, garbage_chunk=b"not an event stream frame at all")
    frames.append(_event("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(_event("messageStop", {"stopReason": answer["stop"]}))
    frames.append(_event("metadata", {"usage": answer["usage"], "metrics": {"latencyMs": 1}}))
    return StreamReply(frames, content_type=EVENTSTREAM, garbage_chunk=b"not an event stream frame at all",
                       headers=(("x-amzn-requestid", f"mock-{answer['seq']}"),))


def invoke(req: MockRequest, settings: MockSettings) -> Reply:
    """InvokeModel for embedding models: Titan (``inputText``) or Cohere (``texts``)."""
    body = req.json()
    if "inputText" in body:
        text = str(body["inputText"])
        vector = wire.embedding_vector(text, int(body.get("dimensions") or settings.embedding_dims))
        return Reply(200, orjson.dumps({"embedding": vector, "inputTextTokenCount": wire.count_tokens(text)}))
    if isinstance(body.get("texts"), list):
        texts = [str(t) for t in body["texts"]]
        out = {"id": f"mock-{req.seq}", "texts": texts, "response_type": "embeddings_floats",
               "embeddings": [wire.embedding_vector(t, settings.embedding_dims) for t in texts]}
        tokens = sum(wire.count_tokens(t) for t in texts)
        return Reply(200, orjson.dumps(out), (("x-amzn-bedrock-input-token-count", str(tokens)),))
    return BEDROCK.error(400, "Malformed input request: expected inputText or texts")


ROUTES = (
    Route("POST", "/model/{model}/converse", converse, BEDROCK),
    Route("POST", "/model/{model}/converse-stream", converse_stream, BEDROCK),
    Route("POST", "/model/{model}/invoke", invoke, BEDROCK),
)
