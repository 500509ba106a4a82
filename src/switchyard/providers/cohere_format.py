"""The Cohere chat v2 wire format: pure transforms, no network.

OpenAI chat -> ``POST /v2/chat``: messages keep their roles (``developer``
becomes ``system``), user images stay ``image_url`` parts, assistant
``tool_calls`` and ``tool`` results keep OpenAI's shape; ``stop`` becomes
``stop_sequences``, ``top_p`` becomes ``p`` (clamped to Cohere's 0.01–0.99),
``response_format`` becomes ``{"type": "json_object", "json_schema": ...}``,
``tool_choice`` ``required``/``none`` become ``REQUIRED``/``NONE`` (a named
function: only that tool is sent, with ``REQUIRED``). OpenAI-only fields
(``n``, ``user``, ``stream_options``, ``logprobs``, ``parallel_tool_calls``,
``metadata``...) are not sent; ``n`` above 1 is refused by name.

Answers come back as ``chat.completion``; the SSE event sequence
(``message-start``, ``content-delta``, ``tool-call-start/delta/end``,
``message-end``) through ``StreamDecoder``; usage is the billed units
(what Cohere charges), else the token counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from switchyard.core.errors import (
    InvalidRequest,
    SwitchyardError,
    UpstreamProtocolError,
    UpstreamUnavailable,
    from_upstream_status,
)
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingResponse, Usage
from switchyard.providers import openai_shapes as shapes
from switchyard.providers.retry_after import parse_retry_after
from switchyard.providers.upstream_json import error_body, json_object, no_headers

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
    "ERROR_LIMIT": "length",
}
_ERROR_FINISHES = frozenset({"ERROR", "TIMEOUT"})


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _user_content(content: Any, param: str) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for i, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            parts.append({"type": "image_url", "image_url": image if isinstance(image, dict) else {"url": image}})
        else:
            raise _bad(f"Content part type {kind!r} is not supported by Cohere", f"{param}[{i}].type")
    return parts


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, message in enumerate(messages):
        role = message.get("role")
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            out.append({"role": "system", "content": shapes.text_of(message.get("content"))})
        elif role == "user":
            out.append({"role": "user", "content": _user_content(message.get("content"), f"{param}.content")})
        elif role == "assistant":
            item: dict[str, Any] = {"role": "assistant"}
            text = shapes.text_of(message.get("content"))
            if text:
                item["content"] = text
            calls = message.get("tool_calls")
            if calls:
                item["tool_calls"] = [
                    {"id": c.get("id"), "type": "function",
                     "function": {"name": (c.get("function") or {}).get("name"),
                                  "arguments": (c.get("function") or {}).get("arguments") or "{}"}}
                    for c in calls
                ]
            out.append(item)
        elif role == "tool":
            if not message.get("tool_call_id"):
                raise _bad("tool messages need tool_call_id", f"{param}.tool_call_id")
            out.append({"role": "tool", "tool_call_id": message["tool_call_id"],
                        "content": shapes.text_of(message.get("content"))})
        else:
            raise _bad(f"role {role!r} is not supported by Cohere", f"{param}.role")
    return out


def build_request(request: ChatRequest, model: str) -> dict[str, Any]:
    """The ``/v2/chat`` body for an OpenAI chat request."""
    body = request.body
    if (body.get("n") or 1) > 1:
        raise _bad("Cohere returns one choice per request; n must be 1", "n")
    out: dict[str, Any] = {"model": model, "messages": _messages(body["messages"])}
    if request.stream:
        out["stream"] = True
    for ours, theirs in (("temperature", "temperature"), ("seed", "seed"), ("presence_penalty", "presence_penalty"),
                         ("frequency_penalty", "frequency_penalty")):
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    if body.get("top_p") is not None:
        out["p"] = min(0.99, max(0.01, float(body["top_p"])))
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        out["max_tokens"] = limit
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        out["response_format"] = {"type": "json_object", **({"json_schema": schema} if schema else {})}
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools:
        for i, tool in enumerate(tools):
            if tool.get("type") != "function":
                raise _bad(f"Tool type {tool.get('type')!r} is not supported by Cohere", f"tools[{i}].type")
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            tools = [t for t in tools if (t.get("function") or {}).get("name") == name]
            if not tools:
                raise _bad(f"tool_choice names {name!r}, which is not among tools", "tool_choice")
            choice = "required"
        out["tools"] = [{"type": "function", "function": t["function"]} for t in tools]
        if choice in ("required", "none"):
            out["tool_choice"] = choice.upper()
        elif choice not in (None, "auto"):
            raise _bad(f"tool_choice {choice!r} is not one of auto, none, required", "tool_choice")
    return out


def usage_from(data: dict[str, Any] | None) -> Usage | None:
    if not data:
        return None
    counts = data.get("billed_units") or data.get("tokens") or {}
    cached = data.get("cached_tokens")
    return Usage(
        prompt_tokens=int(counts.get("input_tokens") or 0),
        completion_tokens=int(counts.get("output_tokens") or 0),
        cached_tokens=None if cached is None else int(cached),
    )


def _finish(reason: str | None) -> str:
    if reason in _ERROR_FINISHES:
        raise UpstreamUnavailable(f"Cohere ended the answer with finish_reason {reason}")
    return FINISH_REASONS.get(reason or "COMPLETE", "stop")


def parse_response(raw: bytes, model: str, *, created: int | None = None) -> ChatResponse:
    """A ``/v2/chat`` answer as a ``chat.completion``."""
    body = json_object(raw, "Cohere sent")
    message = body.get("message")
    if not isinstance(message, dict):
        raise UpstreamProtocolError("Cohere answered without a message")
    text = "".join(p.get("text", "") for p in message.get("content") or () if p.get("type") == "text")
    out_message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    calls = message.get("tool_calls")
    if calls:
        out_message["tool_calls"] = [
            {"id": c.get("id") or shapes.new_id("call_"), "type": "function",
             "function": {"name": c["function"]["name"], "arguments": c["function"].get("arguments") or "{}"}}
            for c in calls
        ]
    choice = {"index": 0, "message": out_message, "logprobs": None, "finish_reason": _finish(body.get("finish_reason"))}
    usage = usage_from(body.get("usage")) or Usage()
    ident = "chatcmpl-" + body["id"] if body.get("id") else shapes.new_id()
    out = shapes.completion(ident, model, shapes.now() if created is None else created, [choice], usage)
    return ChatResponse(body=out, usage=usage)


class StreamDecoder:
    """Turns each SSE event's data (a JSON object with a ``type``) into OpenAI chunks;
    ``close()`` raises when the stream ended before ``message-end``."""

    def __init__(self, model: str, *, include_usage: bool = False, created: int | None = None) -> None:
        self.chunks = shapes.ChunkMaker(shapes.new_id(), model, created)
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self.done = False
        self._calls = 0

    def feed(self, data: str) -> list[Chunk]:
        event = json_object(data, "Cohere sent")
        kind = event.get("type")
        message = (event.get("delta") or {}).get("message") or {}
        if kind == "message-start":
            if event.get("id"):
                self.chunks.ident = "chatcmpl-" + event["id"]
            return [self.chunks.delta({"role": "assistant", "content": ""})]
        if kind == "content-delta":
            text = (message.get("content") or {}).get("text")
            return [self.chunks.delta({"content": text})] if text else []
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            self._calls += 1
            entry = {"index": self._calls - 1, "id": call.get("id") or shapes.new_id("call_"), "type": "function",
                     "function": {"name": function.get("name", ""), "arguments": function.get("arguments") or ""}}
            return [self.chunks.delta({"tool_calls": [entry]})]
        if kind == "tool-call-delta":
            arguments = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            if not arguments:
                return []
            return [self.chunks.delta({"tool_calls": [{"index": max(0, self._calls - 1), "function": {"arguments": arguments}}]})]
        if kind == "message-end":
            delta = event.get("delta") or {}
            if delta.get("error"):
                raise UpstreamUnavailable(f"Cohere stream failed: {delta['error']}")
            finish = _finish(delta.get("finish_reason"))
            self.usage = usage_from(delta.get("usage")) or Usage()
            self.done = True
            return [self.chunks.delta({}, finish)]
        if kind == "error" or (kind is None and ("message" in event or "error" in event)):
            raise error_from_body(500, event, no_headers)
        return []  # content-start/end, tool-plan-delta, tool-call-end, citations: nothing for OpenAI

    def close(self) -> list[Chunk]:
        if not self.done:
            raise UpstreamProtocolError("Cohere stream ended before message-end")
        return [self.chunks.usage(self.usage or Usage(), visible=self.include_usage)]


def error_from_body(status: int, body: Any, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """A Cohere error ``{"id": ..., "message": ...}`` as a core error."""
    message = f"Cohere returned HTTP {status}"
    if isinstance(body, dict):
        found = body.get("message") or body.get("error")
        if isinstance(found, dict):
            found = found.get("message")
        if found:
            message = str(found)
    if status == 498:  # Cohere's "invalid token"
        status = 401
    return from_upstream_status(status, message, retry_after=parse_retry_after(get_header, status))


def parse_error(status: int, raw: bytes, get_header: Callable[[str], str | None]) -> SwitchyardError:
    return error_from_body(status, error_body(raw), get_header)


def build_embed_request(texts: list[str], model: str, body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """A ``/v2/embed`` body; ``input_type`` from the body or options (default ``search_document``)."""
    out: dict[str, Any] = {
        "model": model,
        "texts": texts,
        "input_type": body.get("input_type") or options.get("input_type") or "search_document",
        "embedding_types": ["float"],
    }
    if body.get("dimensions"):
        out["output_dimension"] = body["dimensions"]
    return out


def parse_embed_response(raw: bytes, model: str, texts: list[str], encoding_format: str | None) -> EmbeddingResponse:
    body = json_object(raw, "Cohere sent")
    embeddings = body.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    if not isinstance(vectors, list) or len(vectors) != len(texts):
        raise UpstreamProtocolError("Cohere returned a different number of embeddings than inputs")
    billed = ((body.get("meta") or {}).get("billed_units") or {}).get("input_tokens")
    usage = Usage(prompt_tokens=int(billed or 0))
    return EmbeddingResponse(body=shapes.embedding_list(vectors, model, usage, encoding_format), usage=usage)
