"""The AWS Bedrock Converse wire format: pure transforms, no network.

OpenAI chat request -> Converse request (``messages`` of content blocks,
``system``, ``inferenceConfig``, ``toolConfig``); Converse response -> OpenAI
``chat.completion``; ConverseStream events (already unframed by
``providers.eventstream``) -> OpenAI chunks; Bedrock error bodies
(``{"message": ...}`` with ``x-amzn-errortype``) -> core errors.

JSON schema output has no Converse field: it becomes one forced tool whose
input is the answer, turned back into message content on the way out.

Prompt caching: a ``cache_control`` mark (on a content part, a message, a system
message or a tool) becomes a ``cachePoint`` block right after what it marks
(its ``ttl`` kept). Reasoning on Claude models: ``reasoning_effort`` becomes
``additionalModelRequestFields.thinking`` with the budget of
``providers.reasoning`` (a ``thinking`` object in the body goes as is); an
assistant turn's ``thinking_blocks`` go back as ``reasoningContent`` blocks, and
``reasoningContent`` in an answer comes out as ``reasoning_content`` plus
``thinking_blocks`` (Anthropic's shape, signature kept). Other Bedrock models
get no thinking field.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from switchyard.core.errors import (
    InvalidRequest,
    SwitchyardError,
    UpstreamProtocolError,
    from_upstream_status,
)
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, Usage
from switchyard.providers.eventstream import EventMessage
from switchyard.providers.reasoning import anthropic_thinking, requested_budget
from switchyard.providers.retry_after import parse_retry_after
from switchyard.providers.upstream_json import error_body

#: Top-level keys the Converse API accepts (anything else is a ValidationException).
CONVERSE_KEYS = frozenset({
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
    "additionalModelResponseFieldPaths", "promptVariables", "requestMetadata", "performanceConfig",
})
JSON_TOOL = "json_response"
#: ``maxTokens`` under a thinking budget when the request sets none (added to the budget).
DEFAULT_MAX_TOKENS = 4096

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_AUTH_ERRORS = frozenset({
    "UnrecognizedClientException", "InvalidSignatureException", "MissingAuthenticationTokenException",
    "IncompleteSignatureException", "ExpiredTokenException", "InvalidClientTokenId",
})
_STREAM_ERROR_STATUS = {
    "throttlingException": 429, "serviceUnavailableException": 503, "internalServerException": 500,
    "modelStreamErrorException": 502, "modelTimeoutException": 504, "validationException": 400,
}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def cache_point(mark: Any) -> dict[str, Any]:
    """A ``cachePoint`` block for a ``cache_control`` mark (its ``ttl``, 5m or 1h, kept)."""
    point: dict[str, Any] = {"type": "default"}
    if isinstance(mark, dict) and mark.get("ttl"):
        point["ttl"] = mark["ttl"]
    return {"cachePoint": point}


def _close_mark(blocks: list[dict[str, Any]], source: dict[str, Any]) -> None:
    """A message's (or tool's) ``cache_control`` mark -> a ``cachePoint`` after its blocks."""
    if blocks and source.get("cache_control") is not None and "cachePoint" not in blocks[-1]:
        blocks.append(cache_point(source["cache_control"]))


def _text_blocks(content: Any) -> list[dict[str, Any]]:
    """Text content -> ``{"text"}`` blocks (Bedrock refuses blank ones), a ``cachePoint``
    after each marked part."""
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for part in content or ():
        if isinstance(part, dict) and part.get("type") == "text" and str(part.get("text") or "").strip():
            blocks.append({"text": part["text"]})
            if part.get("cache_control") is not None:
                blocks.append(cache_point(part["cache_control"]))
    return blocks


def _reasoning_blocks(thinking_blocks: Any) -> list[dict[str, Any]]:
    """An assistant turn's signed ``thinking_blocks`` -> Converse ``reasoningContent`` blocks."""
    blocks: list[dict[str, Any]] = []
    for block in thinking_blocks or ():
        if block.get("type") == "thinking":
            text = {"text": block.get("thinking", ""), "signature": block.get("signature", "")}
            blocks.append({"reasoningContent": {"reasoningText": text}})
        elif block.get("type") == "redacted_thinking":
            blocks.append({"reasoningContent": {"redactedContent": block.get("data", "")}})
    return blocks


def image_block(url: str, where: str) -> dict[str, Any]:
    """A ``data:image/png;base64,...`` URL as a Converse image block."""
    if not url.startswith("data:"):
        raise InvalidRequest(f"Bedrock accepts images only as base64 data URLs (at {where})", param=where)
    head, _, data = url.partition(",")
    mime = head[5:].split(";")[0].lower()
    fmt = IMAGE_FORMATS.get(mime)
    if fmt is None or ";base64" not in head:
        raise InvalidRequest(f"Unsupported image {mime or 'type'} at {where}: use base64 png, jpeg, gif or webp", param=where)
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content or ()):
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            blocks.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(image_block(str(url or ""), f"{where}.content[{j}].image_url"))
        else:
            continue
        if part.get("cache_control") is not None:
            blocks.append(cache_point(part["cache_control"]))
    return blocks


def _arguments(text: Any, where: str) -> Any:
    if isinstance(text, dict):
        return text
    try:
        return orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"Tool call arguments at {where} are not JSON", param=where) from None


def build_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system blocks, conversation)``; consecutive turns of one role merge (Bedrock alternates)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role, where = message.get("role"), f"messages[{i}]"
        if role in ("system", "developer"):
            own = _text_blocks(message.get("content"))
            _close_mark(own, message)
            system.extend(own)
            continue
        if role == "assistant":
            # Signed reasoning first: Claude wants an assistant turn to open with it.
            blocks: list[dict[str, Any]] = _reasoning_blocks(message.get("thinking_blocks"))
            blocks += _text_blocks(message.get("content"))
            for k, tool_call in enumerate(message.get("tool_calls") or ()):
                function = tool_call.get("function") or {}
                args = _arguments(function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments")
                blocks.append({"toolUse": {"toolUseId": tool_call.get("id"), "name": function.get("name"), "input": args}})
            kind = "assistant"
        elif role in ("tool", "function"):
            result = _text_of(message.get("content"))
            blocks = [{"toolResult": {"toolUseId": message.get("tool_call_id") or message.get("name"),
                                      "content": [{"text": result or "(empty)"}]}}]
            kind = "user"
        else:
            blocks = _user_blocks(message.get("content"), where)
            kind = "user"
        _close_mark(blocks, message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == kind:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": kind, "content": blocks})
    return system, turns


def _tool_config(body: dict[str, Any], turns: list[dict[str, Any]], json_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    tools = []
    for tool in body.get("tools") or ():
        function = tool.get("function") or {}
        spec: dict[str, Any] = {"name": function.get("name"), "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}}}
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append({"toolSpec": spec})
        if tool.get("cache_control") is not None:
            tools.append(cache_point(tool["cache_control"]))
    if json_schema is not None:
        spec = {"name": JSON_TOOL, "description": "Respond with the answer as this tool's input.", "inputSchema": {"json": json_schema}}
        return {"tools": [*tools, {"toolSpec": spec}], "toolChoice": {"tool": {"name": JSON_TOOL}}}
    if not tools:
        return None
    choice = body.get("tool_choice")
    used = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if choice == "none":
        return {"tools": tools} if used else None
    config: dict[str, Any] = {"tools": tools}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        config["toolChoice"] = {"tool": {"name": (choice.get("function") or {}).get("name")}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    return config


def json_schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    return None


def is_claude(model: str) -> bool:
    """Whether a Bedrock model id (or inference profile) names an Anthropic Claude model."""
    return model.startswith("anthropic.") or ".anthropic." in model or "claude" in model


def _thinking(request: ChatRequest, model: str, inference: dict[str, Any], out: dict[str, Any]) -> None:
    """Claude's ``thinking`` in ``additionalModelRequestFields`` (other models: nothing)."""
    if not is_claude(model):
        return
    thinking = request.body.get("thinking")
    if not isinstance(thinking, dict):  # Anthropic's own object is sent as is; an effort is translated
        budget = requested_budget(request.body, request.native)
        if not budget:
            return
        thinking, inference["maxTokens"] = anthropic_thinking(budget, request.max_tokens, DEFAULT_MAX_TOKENS)
    out["additionalModelRequestFields"] = {"thinking": thinking}


def build_converse(request: ChatRequest, model: str = "") -> dict[str, Any]:
    """The Converse (or ConverseStream) body for an OpenAI chat request; the model goes in the URL."""
    body = request.body
    system, turns = build_messages(request.messages)
    if not turns:
        raise InvalidRequest("Bedrock needs at least one user message", param="messages")
    if (body.get("response_format") or {}).get("type") == "json_object":
        system.append({"text": "Respond only with a valid JSON object."})
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    inference: dict[str, Any] = {}
    if request.max_tokens:
        inference["maxTokens"] = request.max_tokens
    if body.get("temperature") is not None:
        inference["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    _thinking(request, model, inference, out)
    if inference:
        out["inferenceConfig"] = inference
    tool_config = _tool_config(body, turns, json_schema_of(body))
    if tool_config is not None:
        out["toolConfig"] = tool_config
    return out


def usage_of(data: dict[str, Any] | None) -> Usage | None:
    """Bedrock counts cache reads and writes apart from ``inputTokens``; OpenAI's prompt
    includes them. Bedrock reports no reasoning count (Claude's thinking is inside
    ``outputTokens``); a cache count it leaves out is unknown (None)."""
    if not data:
        return None
    cached = data.get("cacheReadInputTokens")
    written = data.get("cacheWriteInputTokens")
    return Usage(
        prompt_tokens=int(data.get("inputTokens") or 0) + int(cached or 0) + int(written or 0),
        completion_tokens=int(data.get("outputTokens") or 0),
        cached_tokens=None if cached is None else int(cached),
        cache_write_tokens=None if written is None else int(written),
    )


def thinking_entry(reasoning: dict[str, Any]) -> dict[str, Any]:
    """A Converse ``reasoningContent`` block as an OpenAI-shape ``thinking_blocks`` entry
    (Anthropic's shape: the signature kept, redacted content as ``data``)."""
    if "redactedContent" in reasoning:
        return {"type": "redacted_thinking", "data": reasoning["redactedContent"]}
    text = reasoning.get("reasoningText") or {}
    return {"type": "thinking", "thinking": text.get("text", ""), "signature": text.get("signature", "")}


def parse_converse(raw: bytes, model: str, *, request_id: str | None = None) -> ChatResponse:
    """A Converse answer as an OpenAI ``chat.completion``."""
    try:
        data = orjson.loads(raw)
        blocks = data["output"]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise UpstreamProtocolError("Bedrock returned a body that is not a Converse response") from None
    texts, thinking, tool_calls = [], [], []
    finish = STOP_REASONS.get(data.get("stopReason"), "stop")
    for block in blocks:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input") or {}).decode()
            if use.get("name") == JSON_TOOL:
                texts.append(arguments)
                finish = "stop" if finish == "tool_calls" else finish
                continue
            tool_calls.append({"id": use.get("toolUseId"), "type": "function",
                               "function": {"name": use.get("name"), "arguments": arguments}})
        elif "reasoningContent" in block:
            thinking.append(thinking_entry(block["reasoningContent"] or {}))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(b.get("thinking", "") for b in thinking)
        message["thinking_blocks"] = thinking
    usage = usage_of(data.get("usage"))
    body = {
        "id": f"chatcmpl-{request_id or uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage.to_openai()
    return ChatResponse(body=body, usage=usage)


def error_type(get_header: Callable[[str], str | None], body: Any) -> str:
    """``ThrottlingException`` from ``x-amzn-errortype: ThrottlingException:http://...`` or the body."""
    value = get_header("x-amzn-errortype") or ""
    if not value and isinstance(body, dict):
        value = str(body.get("__type") or body.get("code") or "")
    return value.split(":", 1)[0].rsplit("#", 1)[-1]


def error_for(status: int, kind: str, message: str, retry_after: float | None = None) -> SwitchyardError:
    if kind in _AUTH_ERRORS:
        status = 401
    elif kind in ("ThrottlingException", "ModelNotReadyException"):
        status = 429
    code = kind or None
    lowered = message.lower()
    if status == 400 and ("too long" in lowered or "too many input tokens" in lowered or "context" in lowered and "exceed" in lowered):
        code = "context_length_exceeded"
    return from_upstream_status(status, message, code=code, retry_after=retry_after)


def parse_error(status: int, raw: bytes, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """A Bedrock error answer: ``{"message": "..."}`` and its type in ``x-amzn-errortype``."""
    body = error_body(raw)
    message = f"Bedrock returned HTTP {status}"
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("Message") or message)
    return error_for(status, error_type(get_header, body), message, parse_retry_after(get_header, status))


class StreamTranslator:
    """ConverseStream events -> OpenAI chunks, one event at a time.

    ``hide_usage``: the client did not ask for usage; the final usage chunk then
    carries usage for accounting only and is never sent. Reasoning streams as
    ``reasoning_content``; when its block stops, one more delta carries it whole
    with its signature in ``thinking_blocks`` (redacted reasoning arrives whole).
    """

    def __init__(self, model: str, *, hide_usage: bool = True, json_mode: bool = False) -> None:
        self.base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model}
        self.hide_usage = hide_usage
        self.json_mode = json_mode
        self.tools: dict[int, int] = {}  # contentBlockIndex -> tool_calls index
        self.json_blocks: set[int] = set()
        self.finish: str | None = None
        self.done = False
        self.usage: Usage | None = None
        self.reasoning: dict[int, dict[str, Any]] = {}  # contentBlockIndex -> text pieces, signature

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return Chunk(data={**self.base, "choices": [choice]})

    def translate(self, message: EventMessage) -> Chunk | None:
        kind = message.event_type
        if message.message_type != "event":
            raise self.error(kind or "unknown", message.payload)
        try:
            data = orjson.loads(message.payload) if message.payload else {}
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(f"Bedrock stream event {kind} is not JSON") from None
        index = int(data.get("contentBlockIndex") or 0)
        if kind == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta:
                return self._chunk({"content": delta["text"]})
            if "toolUse" in delta:
                piece = (delta["toolUse"] or {}).get("input", "")
                if index in self.json_blocks:
                    return self._chunk({"content": piece})
                return self._chunk({"tool_calls": [{"index": self.tools.get(index, 0), "function": {"arguments": piece}}]})
            if "reasoningContent" in delta:
                return self._reasoning(index, delta["reasoningContent"] or {})
            return None
        if kind == "contentBlockStop":
            block = self.reasoning.pop(index, None)
            if block is None:
                return None
            whole = {"type": "thinking", "thinking": "".join(block["pieces"]), "signature": block["signature"]}
            return self._chunk({"thinking_blocks": [whole]})
        if kind == "messageStart":
            return self._chunk({"role": data.get("role", "assistant"), "content": ""})
        if kind == "contentBlockStart":
            use = (data.get("start") or {}).get("toolUse")
            if not use:
                return None
            if self.json_mode and use.get("name") == JSON_TOOL:
                self.json_blocks.add(index)
                return None
            position = self.tools.setdefault(index, len(self.tools))
            call = {"index": position, "id": use.get("toolUseId"), "type": "function",
                    "function": {"name": use.get("name"), "arguments": ""}}
            return self._chunk({"tool_calls": [call]})
        if kind == "messageStop":
            finish = STOP_REASONS.get(str(data.get("stopReason")), "stop")
            if finish == "tool_calls" and not self.tools:
                finish = "stop"
            self.finish = finish
            self.done = True
            return self._chunk({}, finish)
        if kind == "metadata":
            self.usage = usage_of(data.get("usage"))
            if self.usage is None:
                return None
            if self.hide_usage:
                return Chunk(usage=self.usage)
            return Chunk(data={**self.base, "choices": [], "usage": self.usage.to_openai()}, usage=self.usage)
        return None

    def _reasoning(self, index: int, piece: dict[str, Any]) -> Chunk | None:
        if "redactedContent" in piece:
            return self._chunk({"thinking_blocks": [thinking_entry(piece)]})
        block = self.reasoning.setdefault(index, {"pieces": [], "signature": ""})
        if piece.get("signature"):
            block["signature"] += piece["signature"]
        if not piece.get("text"):
            return None
        block["pieces"].append(piece["text"])
        return self._chunk({"reasoning_content": piece["text"]})

    @staticmethod
    def error(kind: str, payload: bytes) -> SwitchyardError:
        """An ``exception`` message mid-stream as a core error."""
        try:
            message = str(orjson.loads(payload).get("message") or kind)
        except (orjson.JSONDecodeError, AttributeError):
            message = payload.decode("utf-8", "replace") or kind
        status = _STREAM_ERROR_STATUS.get(kind, 502)
        return error_for(status, kind[:1].upper() + kind[1:], f"Bedrock stream error ({kind}): {message}")
