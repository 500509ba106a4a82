"""An Anthropic upstream's stream: Messages SSE events -> OpenAI chunks, pure (no network)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from switchyard.core.errors import UpstreamProtocolError
from switchyard.core.messages import Chunk, Usage
from switchyard.providers.anthropic_format.messages import finish_reason, usage_to_core
from switchyard.providers.anthropic_format.upstream import JSON_TOOL, error_from_body
from switchyard.providers.upstream_json import no_headers


class StreamDecoder:
    """Anthropic SSE events -> OpenAI ``chat.completion.chunk`` objects, one event at a time.

    Tool-use blocks become ``tool_calls`` deltas (index counted over tool
    blocks, id and name on the first, ``input_json_delta`` as arguments).
    Thinking streams as ``reasoning_content`` deltas; when a thinking block
    closes, one more delta carries it whole with its signature
    (``thinking_blocks: [{"type": "thinking", "thinking", "signature"}]``), and a
    ``redacted_thinking`` block arrives whole the same way, so a client can send
    them back on its next turn. ``include_usage`` decides whether the final usage
    chunk is sent to the client or only carried for accounting. An ``error``
    event raises.
    """

    __slots__ = ("include_usage", "json_tool", "done", "usage", "_base", "_tools", "_json_blocks", "_thinking")

    def __init__(self, *, include_usage: bool = False, json_tool: bool = False) -> None:
        self.include_usage = include_usage
        self.json_tool = json_tool
        self.done = False
        self.usage: dict[str, Any] = {}
        self._base: dict[str, Any] = {"id": "", "object": "chat.completion.chunk", "created": 0, "model": ""}
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._json_blocks: set[int] = set()
        self._thinking: dict[int, dict[str, Any]] = {}  # open thinking blocks by index: text pieces, signature

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return Chunk(data={**self._base, "choices": [choice]})

    def decode(self, event: str, text: str) -> Chunk | None:
        """One SSE event (its name and data) -> a chunk, or None when it makes none."""
        if event == "ping":
            return None
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("Upstream sent a stream event that is not JSON") from None
        kind = payload.get("type", event) if isinstance(payload, dict) else None
        if kind == "error" or event == "error":
            raise error_from_body(None, payload, no_headers)
        if kind == "message_start":
            message = payload.get("message") or {}
            self._base.update(id=message.get("id", ""), model=message.get("model", ""), created=int(time.time()))
            self.usage.update(message.get("usage") or {})
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block, index = payload.get("content_block") or {}, payload.get("index", 0)
            if block.get("type") == "tool_use":
                if self.json_tool and block.get("name") == JSON_TOOL:
                    self._json_blocks.add(index)
                    return None
                tool_index = self._tools[index] = len(self._tools)
                return self._chunk({"tool_calls": [{"index": tool_index, "id": block.get("id", ""), "type": "function",
                                                    "function": {"name": block.get("name", ""), "arguments": ""}}]})
            if block.get("type") == "text" and block.get("text"):
                return self._chunk({"content": block["text"]})
            if block.get("type") == "thinking":
                self._thinking[index] = {"pieces": [block.get("thinking") or ""], "signature": block.get("signature") or ""}
                return self._chunk({"reasoning_content": block["thinking"]}) if block.get("thinking") else None
            if block.get("type") == "redacted_thinking":
                return self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": block.get("data", "")}]})
            return None
        if kind == "content_block_stop":
            open_block = self._thinking.pop(payload.get("index", 0), None)
            if open_block is None:
                return None
            whole = {"type": "thinking", "thinking": "".join(open_block["pieces"]), "signature": open_block["signature"]}
            return self._chunk({"thinking_blocks": [whole]})
        if kind == "content_block_delta":
            delta, index = payload.get("delta") or {}, payload.get("index", 0)
            dtype = delta.get("type")
            if dtype == "text_delta":
                return self._chunk({"content": delta.get("text", "")})
            if dtype == "input_json_delta":
                if index in self._json_blocks:
                    return self._chunk({"content": delta.get("partial_json", "")})
                known = self._tools.get(index)
                if known is None:
                    return None
                return self._chunk({"tool_calls": [{"index": known, "function": {"arguments": delta.get("partial_json", "")}}]})
            if dtype == "thinking_delta":
                text = delta.get("thinking", "")
                if index in self._thinking:
                    self._thinking[index]["pieces"].append(text)
                return self._chunk({"reasoning_content": text})
            if dtype == "signature_delta" and index in self._thinking:
                self._thinking[index]["signature"] += delta.get("signature", "")
            return None
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
            reason = (payload.get("delta") or {}).get("stop_reason")
            finish = finish_reason(reason)
            if self._json_blocks and finish == "tool_calls" and not self._tools:
                finish = "stop"
            return self._chunk({}, finish)
        if kind == "message_stop":
            self.done = True
            usage = usage_to_core(self.usage) or Usage()
            if self.include_usage:
                return Chunk(data={**self._base, "choices": [], "usage": usage.to_openai()}, usage=usage)
            return Chunk(usage=usage)
        return None
