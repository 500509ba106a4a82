"""Ollama's native wire format (``/api/chat``, ``/api/embed``): pure transforms.

Requests: OpenAI messages -> Ollama messages (images as a list of bare base64
strings, tool-call arguments as objects, tool results naming their tool);
sampling parameters go under ``options``; ``response_format`` becomes
``format`` (``"json"`` or the JSON schema). Answers and NDJSON stream lines ->
OpenAI shapes; the final stream line (``done: true``) carries the usage
(``prompt_eval_count``, ``eval_count``). Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from switchyard.core.errors import InvalidRequest, SwitchyardError, UpstreamProtocolError, from_upstream_status
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingResponse, Usage
from switchyard.providers.retry_after import parse_retry_after
from switchyard.providers.upstream_json import error_body

#: Top-level keys ``/api/chat`` reads.
CHAT_KEYS = frozenset({"model", "messages", "tools", "format", "options", "stream", "keep_alive", "think"})
#: OpenAI request field -> Ollama ``options`` field.
OPTION_FIELDS = {
    "temperature": "temperature", "top_p": "top_p", "seed": "seed",
    "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty",
}
DONE_REASONS = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _images(content: Any, where: str) -> list[str]:
    images = []
    for j, part in enumerate(content if isinstance(content, list) else ()):
        if part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        url = str((image.get("url") if isinstance(image, dict) else image) or "")
        head, _, data = url.partition(",")
        if not url.startswith("data:") or ";base64" not in head:
            param = f"{where}.content[{j}].image_url"
            raise InvalidRequest(f"Ollama accepts images only as base64 data URLs (at {param})", param=param)
        images.append(data)
    return images


def build_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}
    for i, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        item: dict[str, Any] = {"role": "system" if role == "developer" else role, "content": _text_of(content)}
        if role == "user":
            images = _images(content, f"messages[{i}]")
            if images:
                item["images"] = images
        elif role == "assistant" and message.get("tool_calls"):
            calls = []
            for k, tool_call in enumerate(message["tool_calls"]):
                function = tool_call.get("function") or {}
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    try:
                        arguments = orjson.loads(arguments or "{}")
                    except orjson.JSONDecodeError:
                        param = f"messages[{i}].tool_calls[{k}].function.arguments"
                        raise InvalidRequest(f"Tool call arguments at {param} are not JSON", param=param) from None
                tool_names[str(tool_call.get("id"))] = str(function.get("name"))
                calls.append({"function": {"name": function.get("name"), "arguments": arguments or {}}})
            item["tool_calls"] = calls
        elif role in ("tool", "function"):
            item["role"] = "tool"
            name = tool_names.get(str(message.get("tool_call_id"))) or message.get("name")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def build_chat(request: ChatRequest, model: str, *, keep_alive: Any = None) -> dict[str, Any]:
    """The ``/api/chat`` body; ``stream`` is always explicit (Ollama streams by default)."""
    body = request.body
    out: dict[str, Any] = {"model": model, "messages": build_messages(request.messages), "stream": request.stream}
    options: dict[str, Any] = {dst: body[src] for src, dst in OPTION_FIELDS.items() if body.get(src) is not None}
    if request.max_tokens:
        options["num_predict"] = request.max_tokens
    stop = body.get("stop")
    if stop:
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    if options:
        out["options"] = options
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        out["format"] = "json"
    elif fmt.get("type") == "json_schema":
        out["format"] = (fmt.get("json_schema") or {}).get("schema") or "json"
    if body.get("tools") and body.get("tool_choice") != "none":
        out["tools"] = [{"type": "function", "function": t.get("function") or {}} for t in body["tools"]]
    if keep_alive is not None:
        out["keep_alive"] = keep_alive
    return out


def usage_of(data: dict[str, Any]) -> Usage | None:
    if "prompt_eval_count" not in data and "eval_count" not in data:
        return None
    return Usage(prompt_tokens=int(data.get("prompt_eval_count") or 0), completion_tokens=int(data.get("eval_count") or 0))


def _tool_calls(message: dict[str, Any], start: int = 0) -> list[dict[str, Any]]:
    calls = []
    for k, call in enumerate(message.get("tool_calls") or (), start):
        function = call.get("function") or {}
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
        calls.append({"index": k, "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                      "function": {"name": function.get("name"), "arguments": text}})
    return calls


def _finish(data: dict[str, Any], had_tools: bool) -> str:
    reason = DONE_REASONS.get(data.get("done_reason") or "stop", "stop")
    return "tool_calls" if had_tools and reason == "stop" else reason


def _loads(raw: bytes | str, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"Ollama returned {what} that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamProtocolError(f"Ollama returned {what} that is not a JSON object")
    return data


def parse_chat(raw: bytes, model: str) -> ChatResponse:
    """A non-streamed ``/api/chat`` answer as an OpenAI ``chat.completion``."""
    data = _loads(raw, "a body")
    if data.get("error"):
        raise from_upstream_status(500, str(data["error"]))
    message = data.get("message")
    if not isinstance(message, dict):
        raise UpstreamProtocolError("Ollama returned JSON that is not a chat answer")
    calls = _tool_calls(message)
    out: dict[str, Any] = {"role": "assistant", "content": message.get("content") or (None if calls else ""), "refusal": None}
    if calls:
        out["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
    if message.get("thinking"):
        out["reasoning_content"] = message["thinking"]
    usage = usage_of(data)
    body: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model, "choices": [{"index": 0, "message": out, "logprobs": None, "finish_reason": _finish(data, bool(calls))}],
    }
    if usage is not None:
        body["usage"] = usage.to_openai()
    return ChatResponse(body=body, usage=usage)


def parse_error(status: int, raw: bytes, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """An Ollama error answer ``{"error": "..."}``."""
    message = f"Ollama returned HTTP {status}"
    data = error_body(raw)
    if isinstance(data, dict) and data.get("error"):
        error = data["error"]
        message = str(error.get("message") if isinstance(error, dict) else error)
    return from_upstream_status(status, message, retry_after=parse_retry_after(get_header, status))


class StreamTranslator:
    """NDJSON lines of ``/api/chat`` -> OpenAI chunks; the ``done`` line ends the stream."""

    def __init__(self, model: str, *, hide_usage: bool = True) -> None:
        self.base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model}
        self.hide_usage = hide_usage
        self.started = False
        self.tools = 0
        self.done = False
        self.usage: Usage | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def translate(self, line: bytes) -> list[Chunk]:
        data = _loads(line, "a stream line")
        if data.get("error"):
            raise from_upstream_status(500, f"Ollama stream error: {data['error']}")
        message = data.get("message") or {}
        delta: dict[str, Any] = {}
        if not self.started:
            delta["role"] = "assistant"
            self.started = True
        if message.get("content"):
            delta["content"] = message["content"]
        if message.get("thinking"):
            delta["reasoning_content"] = message["thinking"]
        calls = _tool_calls(message, self.tools)
        if calls:
            delta["tool_calls"] = calls
            self.tools += len(calls)
        out = [Chunk(data=self._chunk(delta))] if delta else []
        if data.get("done"):
            self.done = True
            out.append(Chunk(data=self._chunk({}, _finish(data, self.tools > 0))))
            self.usage = usage_of(data)
            if self.usage is not None:
                if self.hide_usage:
                    out.append(Chunk(usage=self.usage))
                else:
                    out.append(Chunk(data={**self.base, "choices": [], "usage": self.usage.to_openai()}, usage=self.usage))
        return out


def build_embed(inputs: list[Any], model: str, dimensions: int | None = None) -> dict[str, Any]:
    texts = [t if isinstance(t, str) else None for t in inputs]
    if any(t is None for t in texts):
        raise InvalidRequest("Ollama embeddings take text input, not token arrays", param="input")
    body: dict[str, Any] = {"model": model, "input": texts}
    if dimensions:
        body["dimensions"] = dimensions
    return body


def parse_embed(raw: bytes, model: str) -> EmbeddingResponse:
    data = _loads(raw, "a body")
    vectors = data.get("embeddings")
    if not isinstance(vectors, list):
        raise UpstreamProtocolError("Ollama returned JSON that is not an embedding answer")
    tokens = int(data.get("prompt_eval_count") or 0)
    body = {"object": "list", "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]}
    return EmbeddingResponse(body=body, usage=Usage(prompt_tokens=tokens))
