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

Extended thinking (``additionalModelRequestFields.thinking``): the answer opens
with a ``reasoningContent`` block (streamed as ``reasoningContent`` text deltas
and a signature delta), signed and checked on its way back as the Anthropic mock
does. Prompt caching: a ``cachePoint`` block ends a cache entry (tools, system,
messages, at least 1024 tokens); usage reports ``cacheReadInputTokens`` and
``cacheWriteInputTokens`` outside ``inputTokens``.
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


def _cache_units(body: dict[str, Any]) -> list[tuple[Any, int, bool]]:
    """The prompt in cache order (tools, system, messages), one unit per block; a
    ``cachePoint`` block is a breakpoint after what precedes it."""
    blocks = [*((body.get("toolConfig") or {}).get("tools") or ()), *(body.get("system") or ())]
    for message in body["messages"]:
        blocks += message.get("content") or ()
    units: list[tuple[Any, int, bool]] = []
    for block in blocks:
        if "cachePoint" in block:
            if units:
                units[-1] = (units[-1][0], units[-1][1], True)
            continue
        text = block.get("text") if isinstance(block.get("text"), str) else orjson.dumps(block).decode()
        units.append((block, wire.count_tokens(text), False))
    return units


def _thinking_problem(body: dict[str, Any], thinking: dict[str, Any]) -> str | None:
    """What Bedrock (relaying Claude) says about a thinking request and the reasoning sent back."""
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return "The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if isinstance(limit, int) and budget >= limit:
            return "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`."
    messages = body["messages"]
    for i, message in enumerate(messages):
        for j, block in enumerate(message.get("content") or ()):
            reasoning = block.get("reasoningContent")
            if reasoning is None:
                continue
            text = reasoning.get("reasoningText")
            if text is not None and text.get("signature") != wire.signature(text.get("text", "")):
                return f"The model returned the following errors: messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if text is None and not wire.redacted_ok(reasoning.get("redactedContent")):
                return f"The model returned the following errors: messages.{i}.content.{j}: Invalid redacted reasoning"
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"), None)
    if last is None or last == len(messages) - 1:
        return None
    content = messages[last].get("content") or [{}]
    if any("toolUse" in b for b in content) and "reasoningContent" not in content[0]:
        return (f"The model returned the following errors: messages.{last}.content.0.type: Expected `thinking` or "
                "`redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message "
                "must start with a thinking block.")
    return None


def _answer(req: MockRequest, settings: MockSettings) -> dict[str, Any] | Reply:
    body = req.json()
    problem = _check(body)
    if problem:
        return BEDROCK.error(400, problem)
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking")
    if isinstance(thinking, dict):
        problem = _thinking_problem(body, thinking)
        if problem:
            return BEDROCK.error(400, problem)
    messages = body["messages"]
    last_user = _last_user_text(messages)
    call = _tool_call(body, last_user)
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    text, cut = wire.answer_text(settings, last_user, limit, calls_tool=call is not None)
    stop = "max_tokens" if cut else "end_turn"
    reasoning: dict[str, Any] | None = None
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        if wire.REDACTED_THINKING_TRIGGER in last_user:
            reasoning = {"redactedContent": wire.redacted_data(last_user)}
        else:
            thought = wire.thought(last_user)
            reasoning = {"reasoningText": {"text": thought, "signature": wire.signature(thought)}}
    units = _cache_units(body)
    prompt = sum(tokens for _, tokens, _ in units) + 4 * len(messages)
    completion = wire.count_tokens(orjson.dumps(call[1]).decode() if call else text)
    if reasoning is not None:
        completion += wire.count_tokens(((reasoning.get("reasoningText") or {}).get("text")) or "")
    read, written = settings.prompt_cache.use(wire.prefix_hashes(units))
    fresh = prompt - read - written
    usage = {"inputTokens": fresh, "outputTokens": completion, "totalTokens": fresh + read + written + completion,
             "cacheReadInputTokens": read, "cacheWriteInputTokens": written}
    return {"text": text, "call": call, "stop": "tool_use" if call else stop, "usage": usage, "seq": req.seq,
            "reasoning": reasoning}


def converse(req: MockRequest, settings: MockSettings) -> Reply:
    answer = _answer(req, settings)
    if isinstance(answer, Reply):
        return answer
    content: list[dict[str, Any]] = [{"reasoningContent": answer["reasoning"]}] if answer["reasoning"] else []
    if answer["call"]:
        name, args = answer["call"]
        content.append({"toolUse": {"toolUseId": f"tooluse_mock{answer['seq']:012d}", "name": name, "input": args}})
    else:
        content.append({"text": answer["text"]})
    body = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": answer["stop"],
            "usage": answer["usage"], "metrics": {"latencyMs": 1}}
    return Reply(200, orjson.dumps(body), (("x-amzn-requestid", f"mock-{answer['seq']}"),))


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return encode_event(kind, orjson.dumps({**data, "p": "abcdefgh"}))


def _reasoning_frames(index: int, reasoning: dict[str, Any], pieces: int) -> list[bytes]:
    def delta(payload: dict[str, Any]) -> bytes:
        return _event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": payload}})

    if "redactedContent" in reasoning:
        frames = [delta({"redactedContent": reasoning["redactedContent"]})]
    else:
        text = reasoning["reasoningText"]
        frames = [delta({"text": p}) for p in wire.split_text(text["text"], pieces)]
        frames.append(delta({"signature": text["signature"]}))
    return [*frames, _event("contentBlockStop", {"contentBlockIndex": index})]


def converse_stream(req: MockRequest, settings: MockSettings) -> Reply | StreamReply:
    answer = _answer(req, settings)
    if isinstance(answer, Reply):
        return answer
    frames = [_event("messageStart", {"role": "assistant"})]
    index = 0
    if answer["reasoning"]:
        frames += _reasoning_frames(index, answer["reasoning"], settings.stream_chunks)
        index += 1
    if answer["call"]:
        name, args = answer["call"]
        use = {"toolUseId": f"tooluse_mock{answer['seq']:012d}", "name": name}
        frames.append(_event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": use}}))
        pieces = wire.split_text(orjson.dumps(args).decode(), settings.stream_chunks)
        frames += [_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": p}}}) for p in pieces]
    else:
        pieces = wire.split_text(answer["text"], settings.stream_chunks)
        frames += [_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": p}}) for p in pieces]
    if unquote(req.params.get("model", "")) == "mock-stream-error":
        frames = frames[:3] + [encode_exception("modelStreamErrorException", b'{"message":"The model stopped unexpectedly."}')]
        return StreamReply(frames, content_type=EVENTSTREAM, garbage_chunk=b"not an event stream frame at all")
    frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
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
