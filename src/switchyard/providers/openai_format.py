"""The OpenAI wire format: pure transforms over bytes and dicts, no network.

Shared by OpenAI, Azure OpenAI and every OpenAI-compatible vendor. The request
body passes through as the client sent it, with ``model`` replaced by the
deployment's upstream model; stream chunks pass through as bytes and are only
parsed when they may carry usage or an error.

A body the gateway translated from another wire format (``ChatRequest.native``,
an Anthropic client's) loses what that translation added for Claude models and
strict OpenAI-format servers refuse: ``cache_control`` marks and an assistant
turn's ``thinking_blocks``. What an OpenAI client sent itself is its business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from switchyard.core.errors import (
    SwitchyardError,
    UpstreamProtocolError,
    from_upstream_status,
)
from switchyard.core.messages import ChatRequest, ChatResponse, Chunk, EmbeddingResponse, Usage
from switchyard.providers.retry_after import parse_retry_after
from switchyard.providers.upstream_json import error_body, json_value, no_headers


def build_chat_body(
    request: ChatRequest,
    upstream_model: str,
    *,
    ask_usage: bool = True,
    drop: Iterable[str] = (),
    rename: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The upstream body: the client's, with the upstream model and, for streams,
    ``stream_options.include_usage`` so the gateway always learns the usage."""
    body = dict(request.body)
    body["model"] = upstream_model
    if request.native is not None:
        _strip_translation_marks(body)
    if request.stream and ask_usage:
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
    for name in drop:
        body.pop(name, None)
    for old, new in (rename or {}).items():
        if old in body:
            body[new] = body.pop(old)
    return body


_MARKS = ("cache_control", "thinking_blocks")


def _unmarked(item: Any) -> Any:
    if not isinstance(item, dict) or not any(mark in item for mark in _MARKS):
        return item
    return {k: v for k, v in item.items() if k not in _MARKS}


def _strip_translation_marks(body: dict[str, Any]) -> None:
    """Drop ``cache_control`` and ``thinking_blocks`` from messages, their parts and tools (in a copy)."""
    messages = []
    for message in body.get("messages") or ():
        message = _unmarked(message)
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            message = {**message, "content": [_unmarked(part) for part in message["content"]]}
        messages.append(message)
    body["messages"] = messages
    if body.get("tools"):
        body["tools"] = [_unmarked(tool) for tool in body["tools"]]


def parse_chat(raw: bytes) -> ChatResponse:
    """A ``chat.completion`` body, kept as bytes for forwarding."""
    body = json_value(raw)
    if not isinstance(body, dict) or "choices" not in body:
        if isinstance(body, dict) and "error" in body:
            # an error delivered with 200 is still an upstream failure, never a 200 to the client
            raise error_from_body(500, body, no_headers)
        raise UpstreamProtocolError("Upstream returned JSON that is not a chat completion")
    return ChatResponse(body=body, usage=Usage.from_openai(body.get("usage")), raw=raw)


def parse_embeddings(raw: bytes) -> EmbeddingResponse:
    body = json_value(raw)
    if not isinstance(body, dict) or "data" not in body:
        raise UpstreamProtocolError("Upstream returned JSON that is not an embedding list")
    return EmbeddingResponse(body=body, usage=Usage.from_openai(body.get("usage")), raw=raw)


def error_from_body(status: int, body: Any, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """An upstream error in OpenAI shape ``{"error": {...}}`` (or anything else)."""
    message, code, param = f"Upstream returned HTTP {status}", None, None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            code = error.get("code") or error.get("type")
            param = error.get("param")
        elif isinstance(error, str):
            message = error
    err = from_upstream_status(
        status,
        message,
        code=str(code) if code is not None else None,
        param=str(param) if param is not None else None,
        retry_after=parse_retry_after(get_header, status),
    )
    return err


def parse_error(status: int, raw: bytes, get_header: Callable[[str], str | None]) -> SwitchyardError:
    """The error for a non-2xx upstream answer in OpenAI format."""
    return error_from_body(status, error_body(raw), get_header)


class StreamDecoder:
    """Turns the ``data:`` payloads of an OpenAI SSE stream into chunks.

    ``hide_usage`` drops the usage-only final chunk when the gateway asked for
    usage on the client's behalf and the client did not want it.
    """

    __slots__ = ("hide_usage", "done", "usage")

    def __init__(self, *, hide_usage: bool = False) -> None:
        self.hide_usage = hide_usage
        self.done = False
        self.usage: Usage | None = None

    def decode(self, text: str) -> Chunk | None:
        """One event's data; None when it produces nothing for the client."""
        return self.decode_raw(text.encode())

    def decode_raw(self, raw: bytes) -> Chunk | None:
        """``decode`` of the data's bytes (the hot path: what came is what leaves, never decoded)."""
        if raw == b"[DONE]":
            self.done = True
            return None
        if raw.find(b'"error"') >= 0:
            payload = _loads(raw)
            if isinstance(payload, dict) and payload.get("error"):
                raise error_from_body(500, payload, no_headers)
            return Chunk(data=payload, raw=raw)
        if raw.find(b'"usage":{') >= 0 or raw.find(b'"usage": {') >= 0:
            payload = _loads(raw)
            usage = Usage.from_openai(payload.get("usage"))
            self.usage = usage
            if self.hide_usage and not payload.get("choices"):
                return Chunk(usage=usage)  # for accounting only, never sent
            if self.hide_usage:
                payload["usage"] = None
                return Chunk(data=payload, usage=usage)
            return Chunk(data=payload, raw=raw, usage=usage)
        # O(1) guard so garbage never reaches the client as a chunk (trailing blanks are tolerated)
        if raw[:1] != b"{" or (raw[-1:] != b"}" and raw.rstrip()[-1:] != b"}"):
            raise UpstreamProtocolError("Upstream sent a stream event that is not JSON")
        return Chunk(raw=raw)


def _loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Upstream sent a stream event that is not JSON") from None
